"""``PydanticAIHistory``: pydantic-ai agents' conversations kept in a session-history store."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from pydantic_ai.agent import AbstractAgent, AgentRun, AgentRunResult
from pydantic_ai.messages import ModelMessage, ModelResponse, UserContent
from pydantic_ai.result import StreamedRunResult
from pydantic_ai.usage import UsageBase

from session_history import (
    InvalidQueryError,
    Session,
    SessionHistory,
    SyncSessionHistory,
    Usage,
    run_sync,
)

from .convert import PYDANTIC_AI_KEY, from_chat_messages, from_metadata, to_chat_messages
from .usage import usage_of

__all__ = ["PydanticAIHistory", "RunNotRecordedWarning"]

Prompt = str | Sequence[UserContent] | None

DEFAULT_AGENT = "pydantic-ai"
_OWN_ARGUMENTS = ("message_history", "conversation")


class RunNotRecordedWarning(UserWarning):
    """An ``iter`` or ``run_stream`` block ended without error before the run finished, so
    nothing was appended."""


class PydanticAIHistory:
    """A message store for pydantic-ai agents, one session per conversation.

    ``run`` loads a session's messages, runs the agent on them and appends what the run added,
    with its usage; ``iter`` and ``run_stream`` do the same around ``agent.iter`` and
    ``agent.run_stream``. ``load`` and ``append`` are the two halves, for code that runs the
    agent itself. A session (any string id) is created on its first write.

    Messages round-trip losslessly (``ModelMessagesTypeAdapter.dump_json`` of what ``load``
    returns equals that of what was appended, byte for byte), and each part is also an ordinary
    message that the ``session-history`` CLI shows and searches. Each append is one
    transaction: a run that fails or is cancelled appends nothing, and concurrent runs on
    different sessions lose nothing.

    Args:
        history: An open ``SessionHistory`` or ``SyncSessionHistory``.
        agent_name: Recorded on the sessions this store creates; by default the agent's ``name``
            (in ``run``, ``iter``, ``run_stream``), else ``"pydantic-ai"``.
    """

    def __init__(
        self, history: SessionHistory | SyncSessionHistory, *, agent_name: str | None = None
    ) -> None:
        self.history = history.history if isinstance(history, SyncSessionHistory) else history
        self.agent_name = agent_name

    # -- the implementation: async ----------------------------------------------------------

    async def load(self, session_id: str) -> list[ModelMessage]:
        """The session's messages as pydantic-ai messages, ready for ``message_history=``.

        Returns:
            ``[]`` for a session not stored yet.

        Raises:
            InvalidQueryError: a stored message cannot be read by this pydantic-ai version.
        """
        # Usually every message was written here and carries its verbatim form: read just those
        # (no ChatMessage built); else the whole messages, which the rest can be read from.
        verbatim = from_metadata(await self.history.load_metadata(session_id, PYDANTIC_AI_KEY))
        if verbatim is not None:
            return verbatim
        return from_chat_messages(await self.history.load_messages(session_id))

    async def append(
        self,
        session_id: str,
        messages: Sequence[ModelMessage],
        *,
        usage: UsageBase | Usage | None = None,
        model: str | None = None,
    ) -> None:
        """Append messages (``result.new_messages()``) in one transaction.

        Args:
            session_id: The session; created on the first write.
            messages: pydantic-ai messages, in order.
            usage: Added to the session's usage: ``result.usage``, or a core ``Usage``. By
                default, the usage the responses in ``messages`` report.
            model: Recorded on the session when this write creates it; by default the
                ``model_name`` of the last response in ``messages``.

        Raises:
            InvalidQueryError: an item is not a pydantic-ai message, or cannot be written as JSON.
        """
        await self._append(session_id, messages, usage, model, self.agent_name)

    async def run(
        self,
        agent: AbstractAgent[Any, Any],
        user_prompt: Prompt = None,
        *,
        session_id: str,
        **run_kwargs: Any,
    ) -> AgentRunResult[Any]:
        """Load the session, ``agent.run(user_prompt, message_history=..., **run_kwargs)``, and
        append the run's new messages with its usage.

        Returns:
            The run's result, as ``agent.run`` returns it.

        Raises:
            InvalidQueryError: ``run_kwargs`` name ``message_history`` or ``conversation``,
                which this method supplies itself.
        """
        _check(run_kwargs)
        messages = await self.load(session_id)
        result = await agent.run(user_prompt, message_history=messages, **run_kwargs)
        await self._append_run(agent, session_id, result.new_messages(), result.usage)
        return result

    @asynccontextmanager
    async def iter(
        self,
        agent: AbstractAgent[Any, Any],
        user_prompt: Prompt = None,
        *,
        session_id: str,
        **run_kwargs: Any,
    ) -> AsyncIterator[AgentRun[Any, Any]]:
        """``agent.iter`` on the session's messages; the run's new messages are appended when
        the block ends, once the run has finished.

        Nothing is appended if the block raises or is cancelled. If it ends without error before
        the run reached its end, nothing is appended either, with a ``RunNotRecordedWarning``.
        """
        _check(run_kwargs)
        messages = await self.load(session_id)
        async with agent.iter(user_prompt, message_history=messages, **run_kwargs) as run:
            yield run
        # After agent.iter's own exit, so that what its after-run hooks changed is stored.
        result = run.result
        if result is None:
            _not_recorded(session_id, "the run had not finished (iterate it to its end)")
            return
        await self._append_run(agent, session_id, result.new_messages(), result.usage)

    @asynccontextmanager
    async def run_stream(
        self,
        agent: AbstractAgent[Any, Any],
        user_prompt: Prompt = None,
        *,
        session_id: str,
        **run_kwargs: Any,
    ) -> AsyncIterator[StreamedRunResult[Any, Any]]:
        """``agent.run_stream`` on the session's messages; the run's new messages are appended
        when the block ends, once the stream was read to its end.

        Nothing is appended if the block raises or is cancelled. If it ends without error before
        the stream was read to its end, nothing is appended either, with a
        ``RunNotRecordedWarning``.
        """
        _check(run_kwargs)
        messages = await self.load(session_id)
        async with agent.run_stream(user_prompt, message_history=messages, **run_kwargs) as stream:
            yield stream
        if not stream.is_complete:
            _not_recorded(session_id, "the stream was not read to its end (use get_output())")
            return
        await self._append_run(agent, session_id, stream.new_messages(), stream.usage)

    # -- the blocking doors onto it ----------------------------------------------------------

    def load_sync(self, session_id: str) -> list[ModelMessage]:
        """The blocking door onto :meth:`load`."""
        return run_sync(self.load, session_id)

    def append_sync(
        self,
        session_id: str,
        messages: Sequence[ModelMessage],
        *,
        usage: UsageBase | Usage | None = None,
        model: str | None = None,
    ) -> None:
        """The blocking door onto :meth:`append`."""
        run_sync(self.append, session_id, messages, usage=usage, model=model)

    def run_sync(
        self,
        agent: AbstractAgent[Any, Any],
        user_prompt: Prompt = None,
        *,
        session_id: str,
        **run_kwargs: Any,
    ) -> AgentRunResult[Any]:
        """The blocking door onto :meth:`run`, for scripts and ``agent.run_sync`` users.

        The whole of :meth:`run`, the agent's run included, runs on session-history's background
        event loop, not through ``agent.run_sync``: so it also works where ``agent.run_sync``
        cannot, in a thread whose event loop is running (a notebook, an async web handler).
        The agent's async clients therefore run on that loop.
        """
        return run_sync(self.run, agent, user_prompt, session_id=session_id, **run_kwargs)

    # -- writing ------------------------------------------------------------------------------

    async def _append_run(
        self,
        agent: AbstractAgent[Any, Any],
        session_id: str,
        messages: Sequence[ModelMessage],
        usage: UsageBase,
    ) -> None:
        await self._append(session_id, messages, usage, None, self.agent_name or agent.name)

    async def _append(
        self,
        session_id: str,
        messages: Sequence[ModelMessage],
        usage: UsageBase | Usage | None,
        model: str | None,
        agent_name: str | None,
    ) -> None:
        if not messages:
            return
        # Created on the first write, in the append's own transaction (race-free).
        first = Session(
            session_id=session_id,
            agent_name=agent_name or DEFAULT_AGENT,
            model=model or model_name(messages),
        )
        await self.history.append_messages(
            session_id, to_chat_messages(messages), usage=usage_of(usage, messages), create=first
        )

    def __repr__(self) -> str:
        return f"<PydanticAIHistory on {self.history!r}>"


def _check(run_kwargs: dict[str, Any]) -> None:
    given = [name for name in _OWN_ARGUMENTS if name in run_kwargs]
    if given:
        raise InvalidQueryError(
            f"{given[0]}= cannot be passed: the store supplies the session's messages itself; "
            "call the agent directly with load() and append() to manage history by hand"
        )


def _not_recorded(session_id: str, why: str) -> None:
    warnings.warn(
        f"nothing was appended to session {session_id!r}: {why}",
        RunNotRecordedWarning,
        stacklevel=4,
    )


def model_name(messages: Sequence[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelResponse) and message.model_name:
            return message.model_name
    return "unknown"
