"""A recorded session as a pydantic-ai model, for re-running an agent offline.

pytest-session-history's ``replay_model(session, framework="pydantic-ai")`` builds it: a
``FunctionModel`` (pydantic-ai's own model for tests) whose function answers each request with
the session's next recorded ``ModelResponse``, verbatim (text, tool calls with their arguments and
ids, thinking with its signature, usage), as :func:`~.convert.from_chat_messages` loads it.
Before answering, it hands the messages the agent sent, and the messages recorded before that
response, to a ``check`` (see the plugin's ``ReplayCheck``), both read as ``ChatMessage``\\ s by
:func:`~.convert.to_chat_messages`, the function that recorded them.

Streamed runs (``run_stream``, ``iter`` with streaming) get the same response as deltas: each
thinking part, text and tool call in order. Their usage is then ``FunctionModel``'s estimate,
as for any streamed ``FunctionModel``; non-streamed runs report the recorded usage.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import AsyncIterator, Callable, Sequence

from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    NativeToolCallPart,
    NativeToolReturnPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
)
from pydantic_ai.models.function import (
    AgentInfo,
    BuiltinToolCallsReturns,
    DeltaThinkingCalls,
    DeltaThinkingPart,
    DeltaToolCall,
    DeltaToolCalls,
    FunctionModel,
)

from session_history import ChatMessage, Session

from .convert import from_chat_messages, to_chat_messages

__all__ = ["Check", "replay_model"]

Check = Callable[[int, Sequence[ChatMessage] | None, Sequence[ChatMessage]], None]
"""``check(index, recorded_input, actual_input)``: raises unless call ``index`` may get its reply;
``recorded_input`` is None past the last recorded reply."""

Delta = str | DeltaToolCalls | DeltaThinkingCalls | BuiltinToolCallsReturns


def replay_model(session: Session, check: Check) -> FunctionModel:
    """A ``FunctionModel`` answering with ``session``'s recorded responses, checked by ``check``.

    It is named after the session's model, so a replayed run records the same model name.
    """
    messages = from_chat_messages(session.messages)
    calls = [(messages[:i], m) for i, m in enumerate(messages) if isinstance(m, ModelResponse)]
    counter = itertools.count()

    async def respond(sent: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        index = next(counter)
        recorded = calls[index][0] if index < len(calls) else None
        check(
            index,
            None if recorded is None else to_chat_messages(recorded),
            to_chat_messages(sent),
        )
        # A copy: pydantic-ai sets the model name on the response it is given, and the agent
        # owns its parts from then on; the recording is replayed again by the next run.
        return copy.deepcopy(calls[index][1])

    async def stream(sent: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Delta]:
        response = await respond(sent, info)
        for delta in _deltas(response):
            yield delta

    return FunctionModel(respond, stream_function=stream, model_name=session.model)


def _deltas(response: ModelResponse) -> list[Delta]:
    """A response as ``FunctionModel`` stream items, one per part (keyed by the part's index)."""
    deltas: list[Delta] = []
    for index, part in enumerate(response.parts):
        if isinstance(part, TextPart):
            deltas.append(part.content)
        elif isinstance(part, ThinkingPart):
            deltas.append(
                {index: DeltaThinkingPart(content=part.content, signature=part.signature)}
            )
        elif isinstance(part, NativeToolCallPart | NativeToolReturnPart):
            deltas.append({index: part})
        elif isinstance(part, ToolCallPart):
            deltas.append(
                {
                    index: DeltaToolCall(
                        name=part.tool_name,
                        json_args=part.args_as_json_str(),
                        tool_call_id=part.tool_call_id,
                    )
                }
            )
    return deltas
