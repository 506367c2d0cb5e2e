"""``HistorySession``: the OpenAI Agents SDK's ``Session`` on a session-history store."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

from agents import TResponseInputItem
from agents import Usage as AgentsUsage
from agents.memory import SessionSettings
from agents.memory.session_settings import coerce_session_settings
from agents.result import RunResultBase, RunResultStreaming

from session_history import (
    ChatMessage,
    HistoryConfig,
    InvalidQueryError,
    Session,
    SessionHistory,
    SyncSessionHistory,
    Usage,
    run_sync,
)

from ._lock import lock_for
from .convert import ITEM_KEY, to_chat_message, to_items, usage_of

__all__ = ["HistorySession"]

# pop_messages takes a count: this one is more than any session holds.
_ALL = sys.maxsize


class HistorySession:
    """The Agents SDK's ``Session`` protocol on a session-history store.

    Pass it to ``Runner.run(agent, input, session=session)``. Each SDK item is one message of the
    session ``session_id``, kept verbatim (``get_items`` returns exactly what ``add_items`` was
    given) and readable by everything else (the CLI, search, export, other integrations; see
    :mod:`openai_agents_session_history.convert` for the mapping). The session is created on the
    first write, with ``agent_name`` and ``model``.

    Each call is one transaction of the store: ``add_items`` appends all its items or none;
    ``pop_item`` removes the last item atomically, so concurrent ``add_items`` and ``pop_item``
    never lose, duplicate or bring back an item; ``get_items(limit=N)`` reads only the last N
    messages. The methods run on the caller's event loop, from any number of threads and loops.

    Implements the ``agents.memory.Session`` protocol rather than subclassing ``SessionABC``,
    which the SDK reserves for its own sessions ("third-party libraries should implement the
    Session protocol instead").

    Args:
        session_id: The session this reads and writes (any non-empty string).
        history: An open ``SessionHistory`` or ``SyncSessionHistory`` (its store is used).
        agent_name: Recorded on the session when it is created.
        model: Recorded on the session when it is created (``"unknown"`` when None).
        session_settings: The SDK's settings (a ``SessionSettings`` or a dict); ``limit`` is
            the default of ``get_items``.
    """

    session_settings: SessionSettings | None

    def __init__(
        self,
        session_id: str,
        history: SessionHistory | SyncSessionHistory,
        *,
        agent_name: str = "openai-agents",
        model: str | None = None,
        session_settings: SessionSettings | Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise InvalidQueryError(
                f"session_id must be a non-empty string, not {session_id!r}; pass the id of the "
                "conversation"
            )
        self.session_id = session_id
        self.history = history.history if isinstance(history, SyncSessionHistory) else history
        self.agent_name = agent_name
        self.model = model
        if isinstance(session_settings, Mapping):
            session_settings = dict(session_settings)
        self.session_settings = (
            SessionSettings()
            if session_settings is None
            else coerce_session_settings(session_settings)
        )
        self._owned: SessionHistory | None = None
        self._lock = lock_for(self.history, session_id)

    @classmethod
    def from_path(
        cls,
        session_id: str,
        path_or_url: str | Path,
        *,
        agent_name: str = "openai-agents",
        model: str | None = None,
        session_settings: SessionSettings | Mapping[str, Any] | None = None,
        plugins: Sequence[object] = (),
    ) -> HistorySession:
        """A session on the database at ``path_or_url`` (a file, or a ``postgresql://`` URL),
        for scripts with no store open.

        It owns the store it opens, and closes it with ``close()``/``aclose()`` or at the end of
        ``with``/``async with``. The database is opened on entering those, else on first use.
        """
        config = HistoryConfig.model_validate({"enabled": True, "db_path": str(path_or_url)})
        store = SessionHistory(config, plugins=plugins)
        session = cls(
            session_id,
            store,
            agent_name=agent_name,
            model=model,
            session_settings=session_settings,
        )
        session._owned = store
        return session

    # -- the Session protocol ------------------------------------------------------------------

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The session's items, oldest first.

        Args:
            limit: Only the last this many (still oldest first), read from the end of the
                session; None means ``session_settings.limit``, and when that is None too,
                every item. 0 gives ``[]``.

        Raises:
            InvalidQueryError: ``limit`` is negative.
        """
        if limit is None and self.session_settings is not None:
            limit = self.session_settings.limit
        if limit is None:
            stored = await self.history.load_metadata(self.session_id, ITEM_KEY)
            if all(isinstance(item, dict) for item in stored):
                return cast(list[TResponseInputItem], stored)
            messages = await self.history.load_messages(self.session_id)
            return [item for message in messages for item in to_items(message)]
        if limit < 0:
            raise InvalidQueryError(
                f"limit must be 0 or more (or None for every item), not {limit}"
            )
        if limit == 0:
            return []
        # Usually each of the last messages holds its item: read just those (no ChatMessage
        # built). One written outside the SDK may stand for several items or none: then read a
        # window of the last messages, and widen it if short.
        stored = await self.history.load_metadata(self.session_id, ITEM_KEY, last=limit)
        if all(isinstance(item, dict) for item in stored):
            return cast(list[TResponseInputItem], stored)
        window = limit
        while True:
            messages = await self.history.load_messages(self.session_id, last=window)
            items = [item for message in messages for item in to_items(message)]
            if len(items) >= limit or len(messages) < window:
                return items[-limit:]
            window *= 2

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append ``items``, in order, in one transaction (all or none are stored).

        Raises:
            InvalidQueryError: an item is not a dict of JSON values; nothing was stored.
        """
        if not items:
            return
        messages = [to_chat_message(item) for item in items]
        async with self._lock:
            await self._append(messages)

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove the last item and return it; None when the session is empty or missing.

        Atomic for items the SDK stored. A message written outside the SDK that stands for
        several items (an assistant text with tool calls) is removed whole: its last item is
        returned and the others are appended back as items of their own (a second write, which
        the ``add_items`` and ``clear_session`` of this process's sessions wait for; a writer
        in another process may land between the two). One that stands for no item (only
        reasoning) is removed, and the next one popped.
        """
        async with self._lock:
            while True:
                popped = await self.history.pop_messages(self.session_id, 1)
                if not popped:
                    return None
                items = to_items(popped[0])
                if not items:
                    continue
                if len(items) > 1:
                    await self._append([to_chat_message(item) for item in items[:-1]])
                return items[-1]

    async def clear_session(self) -> None:
        """Remove every item of the session, firing ``session_history_popped`` with them.

        The session itself stays, with its metadata and usage (tokens were spent), so that the
        SDK's compaction (``clear_session`` then ``add_items``) keeps them; delete the session
        with ``history.delete_session(session_id)`` to remove it altogether.
        """
        async with self._lock:
            await self.history.pop_messages(self.session_id, _ALL)

    # -- beyond the protocol ---------------------------------------------------------------------

    async def add_run_usage(self, result: RunResultBase | AgentsUsage) -> None:
        """Add a run's token usage (``result.context_wrapper.usage``) to the session's total,
        which ``session-history stats`` and the session's summary show.

        Call it once per run: each call adds. Creates the session if it does not exist yet.

        Args:
            result: What ``Runner.run`` returned (a finished ``run_streamed`` result too), or
                an ``agents.Usage``.

        Raises:
            InvalidQueryError: a streamed run that has not finished (its usage is incomplete).
        """
        if isinstance(result, AgentsUsage):
            usage = result
        else:
            if isinstance(result, RunResultStreaming) and not result.is_complete:
                raise InvalidQueryError(
                    "the streamed run has not finished, so its usage is incomplete; consume "
                    "result.stream_events() first, then call add_run_usage(result)"
                )
            usage = result.context_wrapper.usage
        await self._append([], usage=usage_of(usage))

    async def _append(self, messages: Sequence[ChatMessage], *, usage: Usage | None = None) -> None:
        # Created on the first write, in the append's own transaction (race-free).
        first = Session(
            session_id=self.session_id, agent_name=self.agent_name, model=self.model or "unknown"
        )
        await self.history.append_messages(self.session_id, messages, usage=usage, create=first)

    # -- owning a store (from_path) --------------------------------------------------------------

    def close(self) -> None:
        """Close the store if this session opened it (``from_path``); otherwise do nothing."""
        if self._owned is not None:
            owned, self._owned = self._owned, None
            run_sync(owned.close)

    async def aclose(self) -> None:
        """Close the store if this session opened it (``from_path``); otherwise do nothing."""
        if self._owned is not None:
            owned, self._owned = self._owned, None
            await owned.close()

    def __enter__(self) -> Self:
        if self._owned is not None:
            run_sync(self._owned.open)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        if self._owned is not None:
            await self._owned.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<HistorySession {self.session_id!r} on {self.history!r}>"


if TYPE_CHECKING:
    from agents.memory import Session as _SessionProtocol

    def _conforms(session: HistorySession) -> _SessionProtocol:
        return session  # mypy checks the protocol's signatures against ours (on SDK upgrades too)
