"""The blocking door: :class:`SyncSessionHistory`, for scripts and synchronous code.

It holds no logic of its own. It runs a :class:`~session_history.SessionHistory` on an event
loop in a background thread (anyio's blocking portal) and forwards each call there, so both doors
share one implementation. Because the loop is its own, a call works from plain code and from a
thread whose event loop is running alike (that loop waits for the call; nothing deadlocks).
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

import pluggy
from anyio.from_thread import BlockingPortal, start_blocking_portal

from .config import HistoryConfig
from .errors import StoreClosedError
from .history import SessionHistory
from .models import ChatMessage, Session, SessionSummary, Usage

__all__ = ["SyncSessionHistory"]

T = TypeVar("T")


class SyncSessionHistory:
    """The same store as :class:`SessionHistory`, with blocking methods of the same names.

    Open on construction; close with ``with SyncSessionHistory(config) as history:`` or
    ``history.close()``. Hooks, including ``async def`` ones, run as for the async history.
    """

    def __init__(
        self, config: HistoryConfig | None = None, *, plugins: Iterable[object] = ()
    ) -> None:
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = start_blocking_portal()
        self._portal: BlockingPortal | None = self._portal_cm.__enter__()
        self.history = SessionHistory(config, plugins=plugins)
        """The asynchronous history behind this door (hooks receive it as ``history``)."""
        try:
            self._portal.call(self.history.open)
        except BaseException:
            self._stop_portal()
            raise

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
        """Close the database and stop the background loop. Safe to call more than once."""
        if self._portal is None:
            return
        try:
            self._portal.call(self.history.close)
        finally:
            self._stop_portal()

    def _stop_portal(self) -> None:
        cm, self._portal_cm, self._portal = self._portal_cm, None, None
        if cm is not None:
            cm.__exit__(None, None, None)

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
        if getattr(self, "_portal", None) is not None:
            warnings.warn(
                f"{self!r} was not closed; use 'with SyncSessionHistory(...)' or call close()",
                ResourceWarning,
                stacklevel=2,
            )
            # Like aiosqlite: stop the worker threads so the process can still exit.
            with contextlib.suppress(Exception):  # nothing sensible to do in a finaliser
                self.close()

    def __repr__(self) -> str:
        return f"<SyncSessionHistory {self.history!r}>"

    def _call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        if self._portal is None:
            raise StoreClosedError("this SyncSessionHistory is closed; create a new one")
        return self._portal.call(functools.partial(fn, *args, **kwargs))

    # -- the thin doors: one line each onto SessionHistory -----------------------------------

    def create_session(self, session: Session) -> None:
        """See :meth:`SessionHistory.create_session`."""
        return self._call(self.history.create_session, session)

    def save_session(self, session: Session) -> None:
        """See :meth:`SessionHistory.save_session`."""
        return self._call(self.history.save_session, session)

    def append_messages(
        self, session_id: str, messages: Sequence[ChatMessage], *, usage: Usage | None = None
    ) -> None:
        """See :meth:`SessionHistory.append_messages`."""
        return self._call(self.history.append_messages, session_id, messages, usage=usage)

    def delete_session(self, session_id: str) -> bool:
        """See :meth:`SessionHistory.delete_session`."""
        return self._call(self.history.delete_session, session_id)

    def enforce_max_sessions(self) -> int:
        """See :meth:`SessionHistory.enforce_max_sessions`."""
        return self._call(self.history.enforce_max_sessions)

    def prune(
        self,
        *,
        max_sessions: int | None = None,
        max_age: timedelta | None = None,
        dry_run: bool = False,
    ) -> list[SessionSummary]:
        """See :meth:`SessionHistory.prune`."""
        return self._call(
            self.history.prune, max_sessions=max_sessions, max_age=max_age, dry_run=dry_run
        )

    def load_session(self, session_id: str) -> Session | None:
        """See :meth:`SessionHistory.load_session`."""
        return self._call(self.history.load_session, session_id)

    def get_summary(self, session_id: str) -> SessionSummary | None:
        """See :meth:`SessionHistory.get_summary`."""
        return self._call(self.history.get_summary, session_id)

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
        )

    def list_agent_sessions(self, agent_name: str) -> list[SessionSummary]:
        """See :meth:`SessionHistory.list_agent_sessions`."""
        return self._call(self.history.list_agent_sessions, agent_name)

    def session_count(self) -> int:
        """See :meth:`SessionHistory.session_count`."""
        return self._call(self.history.session_count)
