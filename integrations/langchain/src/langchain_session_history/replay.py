"""A recorded session as a LangChain chat model, for re-running an agent offline.

pytest-session-history's ``replay_model(session, framework="langchain")`` builds it. Each
assistant message of the session is one model call's reply: the model answers the calls in
order with those messages as recorded (text, tool calls with their arguments and ids, reasoning,
response metadata and usage), read back by :func:`~.convert.from_chat_message`. Before each reply
it hands the input the agent sent, and the input the recording says was sent (the messages
before that reply), to a ``check`` (see the plugin's ``ReplayCheck``), both as ``ChatMessage``\\ s
made by :func:`~.convert.to_chat_message`, the function that recorded them.

Like ``GenericFakeChatModel``, it is a ``BaseChatModel`` implementing ``_generate`` (streaming
falls back to it, one chunk per reply); unlike it, it has ``bind_tools``, which ``create_agent``
calls: the tools are the agent's business, the replies are the recording's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr

from session_history import ChatMessage, Session

from .convert import from_chat_message, to_chat_message

__all__ = ["Check", "ReplayChatModel", "replay_model"]

Check = Callable[[int, Sequence[ChatMessage] | None, Sequence[ChatMessage]], None]
"""``check(index, recorded_input, actual_input)``: raises unless call ``index`` may get its reply;
``recorded_input`` is None past the last recorded reply."""


def replay_model(session: Session, check: Check) -> ReplayChatModel:
    """A chat model answering with ``session``'s recorded replies, checked by ``check``."""
    messages = [from_chat_message(message) for message in session.messages]
    return ReplayChatModel(
        model_name=session.model,
        replies=[m for m in messages if isinstance(m, AIMessage)],
        inputs=[messages[:i] for i, m in enumerate(messages) if isinstance(m, AIMessage)],
        check=check,
    )


class ReplayChatModel(BaseChatModel):
    """Answers each call with the next recorded ``AIMessage``, after checking its input."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_name: str
    """The recorded session's model, as LangChain's tracing (and the middleware) reads it."""
    replies: list[AIMessage]
    inputs: list[list[BaseMessage]]
    """The messages recorded before each reply: what its call was sent."""
    check: Check
    _calls: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "session-history-replay"

    @property
    def calls(self) -> int:
        """How many calls were answered (or refused) so far."""
        return self._calls

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ReplayChatModel:
        """The model itself: the recorded replies already name the tools they call."""
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._lock:  # the async door runs this in a thread pool
            index = self._calls
            self._calls += 1
        recorded = self.inputs[index] if index < len(self.inputs) else None
        self.check(
            index,
            None if recorded is None else [to_chat_message(m) for m in recorded],
            [to_chat_message(m) for m in messages],
        )
        reply = self.replies[index].model_copy(deep=True)
        return ChatResult(generations=[ChatGeneration(message=reply)])
