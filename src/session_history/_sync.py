"""The blocking door: :class:`SyncSessionHistory`, for scripts and synchronous code.

It holds no logic of its own: each method runs the coroutine of the same name of a
:class:`~session_history.SessionHistory` to its end in the calling thread, in blocking mode
(:func:`~session_history._background.drive`): a SQLite operation goes straight to the database's
worker thread and back, anything that needs an event loop runs on the shared background loop. So
both doors share one implementation, and a call works from plain code and from a thread whose
event loop is running alike, because the store keeps no state bound to an event loop.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import ParamSpec, Self, TypeVar

import pluggy
from pydantic import JsonValue

from ._background import drive, iterate_sync, run_sync
from ._config import HistoryConfig
from ._errors import StoreClosedError
from ._history import SessionHistory
from ._models import (
    Branch,
    ChatMessage,
    HistoryStats,
    ImportReport,
    SearchHit,
    Session,
    SessionSummary,
    Usage,
)

__all__ = ["SyncSessionHistory"]

P = ParamSpec("P")
T = TypeVar("T")


class SyncSessionHistory:
    """The same store as :class:`SessionHistory`, with blocking methods of the same names.

    Open on construction; close with ``with SyncSessionHistory(config) as history:`` or
    ``history.close()``. Hooks, including ``async def`` ones, run as for the async history.
    """

    def __init__(
        self, config: HistoryConfig | None = None, *, plugins: Iterable[object] = ()
    ) -> None:
        self.history = SessionHistory(config, plugins=plugins)
        """The asynchronous history behind this door (hooks receive it as ``history``)."""
        drive(self.history.open)
        self._open = True
        self._owns = True

    @classmethod
    def wrap(cls, history: SessionHistory) -> Self:
        """A blocking door onto an existing history, opening it if needed.

        Both then share one store: closing either closes it. The door need not be closed: the
        store's owner closes it (only the store warns when it is never closed).
        """
        door = cls.__new__(cls)
        door.history = history
        drive(history.open)
        door._open = True
        door._owns = False
        return door

    @property
    def config(self) -> HistoryConfig:
        return self.history.config

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        return self.history.plugin_manager

    @property
    def is_enabled(self) -> bool:
        return self.history.is_enabled

    def close(self) -> None:
        """Close the database. Safe to call more than once."""
        if self._open:
            self._open = False
            drive(self.history.close)

    @property
    def is_open(self) -> bool:
        """Whether this door, and the store behind it, are open."""
        return self._open and self.history.is_open

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_open", False) and getattr(self, "_owns", False):
            warnings.warn(
                f"{self!r} was not closed; use 'with SyncSessionHistory(...)' or call close()",
                ResourceWarning,
                stacklevel=2,
            )
            # No close() here: a finaliser may run at interpreter exit, when the background loop
            # is already frozen. aiosqlite's own finaliser stops its worker thread.

    def __repr__(self) -> str:
        return f"<SyncSessionHistory {self.history!r}>"

    def _check_open(self) -> None:
        if not self.is_open:
            raise StoreClosedError("this SyncSessionHistory is closed; create a new one")

    def _call(
        self, fn: Callable[P, Coroutine[object, object, T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        self._check_open()
        return drive(fn, *args, **kwargs)

    # -- the thin doors: one line each onto SessionHistory -----------------------------------

    def create_session(self, session: Session) -> None:
        """See :meth:`SessionHistory.create_session`."""
        return self._call(self.history.create_session, session)

    def save_session(self, session: Session) -> None:
        """See :meth:`SessionHistory.save_session`."""
        return self._call(self.history.save_session, session)

    def append_messages(
        self,
        session_id: str,
        messages: Sequence[ChatMessage],
        *,
        usage: Usage | None = None,
        create: Session | None = None,
        expected_revision: int | None = None,
        scope: str | None = None,
        state: dict[str, JsonValue] | None = None,
    ) -> list[str]:
        """See :meth:`SessionHistory.append_messages`."""
        return self._call(
            self.history.append_messages,
            session_id,
            messages,
            usage=usage,
            create=create,
            expected_revision=expected_revision,
            scope=scope,
            state=state,
        )

    def pop_messages(
        self,
        session_id: str,
        n: int = 1,
        *,
        expected_revision: int | None = None,
        scope: str | None = None,
    ) -> list[ChatMessage]:
        """See :meth:`SessionHistory.pop_messages`."""
        return self._call(
            self.history.pop_messages,
            session_id,
            n,
            expected_revision=expected_revision,
            scope=scope,
        )

    def branch_session(
        self,
        session_id: str,
        *,
        at: int | None = None,
        from_entry: str | None = None,
        expected_revision: int | None = None,
        scope: str | None = None,
    ) -> SessionSummary:
        """See :meth:`SessionHistory.branch_session`."""
        return self._call(
            self.history.branch_session,
            session_id,
            at=at,
            from_entry=from_entry,
            expected_revision=expected_revision,
            scope=scope,
        )

    def list_branches(self, session_id: str, *, scope: str | None = None) -> list[Branch]:
        """See :meth:`SessionHistory.list_branches`."""
        return self._call(self.history.list_branches, session_id, scope=scope)

    def fork_session(
        self,
        source_id: str,
        new_id: str,
        *,
        at: int | None = None,
        from_entry: str | None = None,
        scope: str | None = None,
        metadata: dict[str, JsonValue] | None = None,
        source_scope: str | None = None,
    ) -> SessionSummary:
        """See :meth:`SessionHistory.fork_session`."""
        return self._call(
            self.history.fork_session,
            source_id,
            new_id,
            at=at,
            from_entry=from_entry,
            scope=scope,
            metadata=metadata,
            source_scope=source_scope,
        )

    def set_state(
        self,
        session_id: str,
        state: dict[str, JsonValue],
        *,
        expected_revision: int | None = None,
        scope: str | None = None,
    ) -> SessionSummary:
        """See :meth:`SessionHistory.set_state`."""
        return self._call(
            self.history.set_state,
            session_id,
            state,
            expected_revision=expected_revision,
            scope=scope,
        )

    def load_state(
        self, session_id: str, *, scope: str | None = None
    ) -> dict[str, JsonValue] | None:
        """See :meth:`SessionHistory.load_state`."""
        return self._call(self.history.load_state, session_id, scope=scope)

    def delete_session(self, session_id: str, *, scope: str | None = None) -> bool:
        """See :meth:`SessionHistory.delete_session`."""
        return self._call(self.history.delete_session, session_id, scope=scope)

    def enforce_max_sessions(self) -> int:
        """See :meth:`SessionHistory.enforce_max_sessions`."""
        return self._call(self.history.enforce_max_sessions)

    def prune(
        self,
        *,
        max_sessions: int | None = None,
        max_age: timedelta | None = None,
        expired: bool = False,
        scope: str | None = None,
        dry_run: bool = False,
    ) -> list[SessionSummary]:
        """See :meth:`SessionHistory.prune`."""
        return self._call(
            self.history.prune,
            max_sessions=max_sessions,
            max_age=max_age,
            expired=expired,
            scope=scope,
            dry_run=dry_run,
        )

    def load_session(self, session_id: str, *, scope: str | None = None) -> Session | None:
        """See :meth:`SessionHistory.load_session`."""
        return self._call(self.history.load_session, session_id, scope=scope)

    def load_messages(
        self, session_id: str, *, last: int | None = None, scope: str | None = None
    ) -> list[ChatMessage]:
        """See :meth:`SessionHistory.load_messages`."""
        return self._call(self.history.load_messages, session_id, last=last, scope=scope)

    def iter_messages(
        self, session_id: str, *, batch_size: int = 1000, scope: str | None = None
    ) -> Iterator[ChatMessage]:
        """See :meth:`SessionHistory.iter_messages`."""
        self._check_open()
        messages = self.history.iter_messages(session_id, batch_size=batch_size, scope=scope)
        return _in_batches(messages, batch_size)

    def load_metadata(
        self, session_id: str, key: str, *, last: int | None = None, scope: str | None = None
    ) -> list[JsonValue | None]:
        """See :meth:`SessionHistory.load_metadata`."""
        return self._call(self.history.load_metadata, session_id, key, last=last, scope=scope)

    def get_summary(self, session_id: str, *, scope: str | None = None) -> SessionSummary | None:
        """See :meth:`SessionHistory.get_summary`."""
        return self._call(self.history.get_summary, session_id, scope=scope)

    def list_sessions(
        self,
        *,
        limit: int | None = None,
        offset: int = 0,
        after: SessionSummary | None = None,
        agent_name: str | None = None,
        model: str | None = None,
        updated_since: datetime | None = None,
        updated_until: datetime | None = None,
        scope: str | None = None,
    ) -> list[SessionSummary]:
        """See :meth:`SessionHistory.list_sessions`."""
        return self._call(
            self.history.list_sessions,
            limit=limit,
            offset=offset,
            after=after,
            agent_name=agent_name,
            model=model,
            updated_since=updated_since,
            updated_until=updated_until,
            scope=scope,
        )

    def list_agent_sessions(self, agent_name: str) -> list[SessionSummary]:
        """See :meth:`SessionHistory.list_agent_sessions`."""
        return self._call(self.history.list_agent_sessions, agent_name)

    def session_count(self, *, scope: str | None = None) -> int:
        """See :meth:`SessionHistory.session_count`."""
        return self._call(self.history.session_count, scope=scope)

    def search(
        self,
        query: str,
        *,
        agent_name: str | None = None,
        scope: str | None = None,
        limit: int = 20,
        highlight: tuple[str, str] = ("[", "]"),
    ) -> list[SearchHit]:
        """See :meth:`SessionHistory.search`."""
        return self._call(
            self.history.search,
            query,
            agent_name=agent_name,
            scope=scope,
            limit=limit,
            highlight=highlight,
        )

    def stats(self, *, scope: str | None = None) -> HistoryStats:
        """See :meth:`SessionHistory.stats`."""
        return self._call(self.history.stats, scope=scope)

    def export_jsonl(self, *, batch_size: int = 500) -> Iterator[str]:
        """See :meth:`SessionHistory.export_jsonl`."""
        self._check_open()
        return iterate_sync(self.history.export_jsonl(batch_size=batch_size))

    def export_chunks(self, *, batch_size: int = 500) -> Iterator[str]:
        """See :meth:`SessionHistory.export_chunks`."""
        self._check_open()
        return iterate_sync(self.history.export_chunks(batch_size=batch_size))

    def import_jsonl(self, lines: Iterable[str | bytes], *, batch_size: int = 500) -> ImportReport:
        """See :meth:`SessionHistory.import_jsonl`."""
        self._check_open()
        # On the background loop, not driven here: an import parses the next batch while the
        # last one is written, which takes an event loop.
        return run_sync(self.history.import_jsonl, lines, batch_size=batch_size)


def _in_batches(iterator: AsyncIterator[T], size: int) -> Iterator[T]:
    """Iterate an async iterator from synchronous code, ``size`` items per step on the
    background loop (one step per item would cost a thread switch each)."""

    async def take() -> list[T]:
        batch: list[T] = []
        async for item in iterator:
            batch.append(item)
            if len(batch) >= size:
                break
        return batch

    try:
        while batch := run_sync(take):
            yield from batch
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            run_sync(close)
