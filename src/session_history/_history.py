"""The asynchronous session history: the library's main door.

:class:`SessionHistory` applies the rules that hold whatever the storage: a disabled history does
no I/O and answers as the reference design does (``None``, ``[]``, ``0``, ``False``); hooks fire
after each write commits; pruning follows the config. The storage itself is a backend
(:mod:`session_history._backends`).
"""

from __future__ import annotations

import concurrent.futures
import re
import threading
import warnings
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

import pluggy
from pydantic import JsonValue

from ._backends import Backend, ListQuery, open_backend
from ._background import wait
from ._config import HistoryConfig
from ._errors import InvalidQueryError, StoreClosedError
from ._ids import check_session_id
from ._jsonl import export_lines, import_lines
from ._models import (
    ChatMessage,
    HistoryStats,
    ImportReport,
    SearchHit,
    Session,
    SessionSummary,
    Usage,
    utc_now,
)
from ._plugins import Hooks, make_plugin_manager
from ._search import parse_query

__all__ = ["SessionHistory"]

_KEY = re.compile(r"[A-Za-z0-9_-]+")


class SessionHistory:
    """An asynchronous store of agent sessions.

    Open it with ``async with SessionHistory(config) as history:`` (or ``await history.open()``
    and ``await history.close()``); a method called first opens it too. Opening creates the
    database if needed and applies any outstanding schema migrations. A closed history stays
    closed.

    Args:
        config: Where and whether to keep history. ``HistoryConfig()`` is disabled, as in the
            reference design; pass ``HistoryConfig(enabled=True)`` to store.
        plugins: Hook implementations to register on this history's plugin manager.
    """

    def __init__(
        self, config: HistoryConfig | None = None, *, plugins: Iterable[object] = ()
    ) -> None:
        self.config = config if config is not None else HistoryConfig()
        self.plugin_manager: pluggy.PluginManager = make_plugin_manager(
            plugins, load_entrypoints=self.config.load_entrypoint_plugins
        )
        self._hooks = Hooks(self.plugin_manager, self)
        self._backend: Backend = open_backend(self.config)
        self._open = False
        self._closed = False
        self._open_lock = threading.Lock()
        self._opening: concurrent.futures.Future[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def is_enabled(self) -> bool:
        """Whether this history stores anything."""
        return self.config.enabled

    @property
    def is_open(self) -> bool:
        """Whether the history can be used: not closed (disabled ones need no opening)."""
        return not self._closed

    async def open(self) -> Self:
        """Open (creating and migrating) the database. Does nothing when disabled or open.

        Methods open the history on first use too; ``async with`` or ``open()`` just make the
        moment explicit (and the errors of a bad path surface there).
        """
        if not self.config.enabled or self._open:
            return self
        if self._closed:
            raise self._closed_error()
        # A thread-safe future, not an asyncio lock: callers on any event loop may race to
        # open, and exactly one of them opens while the others wait for it.
        with self._open_lock:
            opening, first = self._opening, self._opening is None
            if opening is None:
                opening = self._opening = concurrent.futures.Future()
        if not first:
            await wait(opening)
            return self
        try:
            await self._backend.open()
            if self._closed:  # close() ran meanwhile: nothing may use, or keep, this connection
                await self._backend.close()
                raise self._closed_error()
        except BaseException as exc:
            with self._open_lock:
                self._opening = None
            opening.set_exception(exc)
            opening.exception()  # retrieved: a lone opener leaves no "never retrieved" noise
            raise
        self._open = True
        opening.set_result(None)
        return self

    def _closed_error(self) -> StoreClosedError:
        return StoreClosedError(f"{self!r} was closed; make a new SessionHistory to use it again")

    async def _ready(self) -> Backend:
        """The backend, opened on first use (a disabled history's answers as the reference's)."""
        if not self._open:
            await self.open()
        return self._backend

    async def close(self) -> None:
        """Close the database. Safe to call more than once; the history cannot be reused."""
        self._closed = True
        if self._open:
            self._open = False
            await self._backend.close()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __del__(self) -> None:
        if getattr(self, "_open", False):
            warnings.warn(
                f"{self!r} was not closed; use 'async with SessionHistory(...)' or "
                "'await history.close()' (an open connection keeps the process from exiting)",
                ResourceWarning,
                stacklevel=2,
            )

    def __repr__(self) -> str:
        return f"<SessionHistory {self._backend.location}>"

    # -- writes ------------------------------------------------------------------------------

    async def create_session(self, session: Session) -> None:
        """Store a new session with its messages.

        Raises:
            SessionExistsError: a session with this id is already stored.
        """
        check_session_id(session.session_id)
        backend = await self._ready()
        summary = await backend.create_session(session, want_summary=self._hooks.wants_saved)
        if summary is not None:
            await self._hooks.saved(summary, session.messages, "create")

    async def save_session(self, session: Session) -> None:
        """Store ``session``, replacing any stored session with the same id.

        When the stored messages are a prefix of ``session.messages`` (an agent loop saving after
        each turn), only the new messages are written.
        """
        check_session_id(session.session_id)
        backend = await self._ready()
        result = await backend.save_session(session, want_summary=self._hooks.wants_saved)
        if result.summary is not None:
            await self._hooks.saved(result.summary, result.new_messages, "save")

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[ChatMessage],
        *,
        usage: Usage | None = None,
        create: Session | None = None,
    ) -> None:
        """Append ``messages``, in order, after the session's stored messages, atomically.

        Args:
            session_id: The session to add to.
            messages: The messages; concurrent appends never interleave within one call.
            usage: Token usage of these messages, added to the session's total.
            create: When no session ``session_id`` is stored, store this one (its id must be
                ``session_id``; its own messages, if any, come first) with ``messages`` after
                it, in the same transaction: a session made on its first write, race-free
                across writers. Hooks are told of a ``"create"`` then.

        Raises:
            SessionNotFoundError: no session with this id is stored, and no ``create``.
        """
        check_session_id(session_id)
        first = None
        if create is not None:
            if create.session_id != session_id:
                raise InvalidQueryError(
                    f"create is session {create.session_id!r}, not {session_id!r}; give the "
                    "session to create when the one appended to is missing"
                )
            total = create.usage + usage if create.usage and usage else create.usage or usage
            first = create.model_copy(
                update={"messages": [*create.messages, *messages], "usage": total}
            )
        backend = await self._ready()
        result = await backend.append_messages(
            session_id, messages, usage=usage, create=first, want_summary=self._hooks.wants_saved
        )
        if result.summary is not None:
            if first is not None and result.created:
                await self._hooks.saved(result.summary, first.messages, "create")
            else:
                await self._hooks.saved(result.summary, messages, "append")

    async def pop_messages(self, session_id: str, n: int = 1) -> list[ChatMessage]:
        """Remove the last ``n`` messages of a session, atomically, and return them in order.

        The summary's counts follow; usage stays (tokens were spent). Concurrent appends and pops
        on one session never lose, duplicate or bring back a message. Fires
        ``session_history_popped`` when something was removed.

        Returns:
            The removed messages, oldest first: fewer than ``n`` when the session holds fewer,
            ``[]`` when it is empty or missing.
        """
        check_session_id(session_id)
        if n < 0:
            raise InvalidQueryError(f"n must be 0 or more, not {n}")
        backend = await self._ready()
        if n == 0:
            return []
        result = await backend.pop_messages(session_id, n, want_summary=self._hooks.wants_popped)
        if result.summary is not None and result.popped:
            await self._hooks.popped(result.summary, result.popped)
        return result.popped

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session and its messages; False when there was no such session."""
        check_session_id(session_id)
        backend = await self._ready()
        deleted = await backend.delete_session(session_id)
        if deleted:
            await self._hooks.deleted(session_id)
        return deleted

    async def enforce_max_sessions(self) -> int:
        """Prune by the config: drop sessions older than ``max_age``, then all but the
        ``max_sessions`` most recently updated. Returns how many were pruned."""
        pruned = await self.prune(
            max_sessions=self.config.max_sessions, max_age=self.config.max_age
        )
        return len(pruned)

    async def prune(
        self,
        *,
        max_sessions: int | None = None,
        max_age: timedelta | None = None,
        dry_run: bool = False,
    ) -> list[SessionSummary]:
        """Remove sessions not updated within ``max_age``, then all but the ``max_sessions``
        newest, in one transaction. Returns the removed sessions (with ``dry_run``, the ones that
        would be removed, removing nothing and firing no hook)."""
        backend = await self._ready()
        if max_sessions is not None and max_sessions < 0:
            raise InvalidQueryError(f"max_sessions must be 0 or more, not {max_sessions}")
        older_than = utc_now() - max_age if max_age is not None else None
        results = await backend.prune(
            max_sessions=max_sessions, older_than=older_than, dry_run=dry_run
        )
        if not dry_run:
            for result in results:
                await self._hooks.pruned(result.pruned, result.reason)
        return [summary for result in results for summary in result.pruned]

    # -- reads -------------------------------------------------------------------------------

    async def load_session(self, session_id: str) -> Session | None:
        """The session with all its messages in order, or None."""
        check_session_id(session_id)
        backend = await self._ready()
        return await backend.load_session(session_id)

    async def load_messages(self, session_id: str, *, last: int | None = None) -> list[ChatMessage]:
        """The session's messages in order, without its summary; ``[]`` when it is missing.

        Args:
            session_id: The session to read.
            last: Only the last this many messages (still oldest first). They are read from
                the end, so the cost depends on ``last``, not on the session's length.
        """
        check_session_id(session_id)
        if last is not None and last < 0:
            raise InvalidQueryError(f"last must be 0 or more, not {last}")
        backend = await self._ready()
        if last == 0:
            return []
        return await backend.load_messages(session_id, last)

    async def load_metadata(
        self, session_id: str, key: str, *, last: int | None = None
    ) -> list[JsonValue | None]:
        """``metadata[key]`` of each of the session's messages, in order, read straight from
        the stored JSON without building the messages: for integrations that keep their
        framework's own form of a message there and need nothing else to load it.

        Args:
            session_id: The session to read.
            key: The metadata key: letters, digits, ``_`` and ``-``.
            last: Only the last this many messages, as for :meth:`load_messages`.

        Returns:
            One value per message; None where a message has no such key. ``[]`` when the
            session is missing.
        """
        check_session_id(session_id)
        if not _KEY.fullmatch(key):
            raise InvalidQueryError(
                f"metadata key {key!r} is not one load_metadata reads; use letters, digits, "
                "'_' and '-'"
            )
        if last is not None and last < 0:
            raise InvalidQueryError(f"last must be 0 or more, not {last}")
        backend = await self._ready()
        if last == 0:
            return []
        return await backend.load_metadata(session_id, key, last)

    async def get_summary(self, session_id: str) -> SessionSummary | None:
        """The session's summary (counts, usage, times) without reading its messages, or None."""
        check_session_id(session_id)
        backend = await self._ready()
        return await backend.get_summary(session_id)

    async def list_sessions(
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
        """Summaries, most recently updated first (ties by id, so the order is stable).

        Args:
            limit: At most this many.
            offset: Skip this many first.
            after: The last summary of the previous page: continue right after it. Unlike
                ``offset``, a page stays right when sessions are added meanwhile.
            agent_name: Only this agent's sessions.
            model: Only sessions with this model.
            updated_since: Only sessions updated at or after this time.
            updated_until: Only sessions updated before this time.
        """
        backend = await self._ready()
        if (limit is not None and limit < 0) or offset < 0:
            raise InvalidQueryError("limit and offset must be 0 or more")
        query = ListQuery(
            limit=limit,
            offset=offset,
            after=(after.updated_at, after.id) if after is not None else None,
            agent_name=agent_name,
            model=model,
            updated_since=updated_since,
            updated_until=updated_until,
        )
        return await backend.list_sessions(query)

    async def list_agent_sessions(self, agent_name: str) -> list[SessionSummary]:
        """The sessions of one agent, most recently updated first."""
        return await self.list_sessions(agent_name=agent_name)

    async def session_count(self) -> int:
        """How many sessions are stored."""
        backend = await self._ready()
        return await backend.session_count()

    # -- search, stats, export, import ----------------------------------------------------------

    async def search(
        self,
        query: str,
        *,
        agent_name: str | None = None,
        limit: int = 20,
        highlight: tuple[str, str] = ("[", "]"),
    ) -> list[SearchHit]:
        """Messages matching ``query``, best first.

        Searches message content, reasoning, and tool-call names and arguments. A query is plain
        words (all must match) and "quoted phrases"; ``word*`` matches a prefix. No search
        syntax to learn, and none to get wrong.

        Args:
            query: What to look for.
            agent_name: Only this agent's sessions.
            limit: At most this many hits.
            highlight: The marks put around each match in the snippets.

        Raises:
            InvalidQueryError: the query has nothing to search for or an unbalanced quote.
        """
        terms = parse_query(query)
        if limit < 1:
            raise InvalidQueryError(f"limit must be 1 or more, not {limit}")
        backend = await self._ready()
        return await backend.search(terms, agent_name=agent_name, limit=limit, highlight=highlight)

    async def stats(self) -> HistoryStats:
        """Counts of sessions, messages, turns, tool calls and tokens, per agent and model."""
        backend = await self._ready()
        return await backend.stats()

    async def export_jsonl(self, *, batch_size: int = 500) -> AsyncIterator[str]:
        """Every session as one JSON line (an ``ExportedSession``), lossless, in a stable order.

        Sessions are read ``batch_size`` at a time, each batch in one consistent snapshot.
        """
        backend = await self._ready()
        async for line in export_lines(backend, batch_size=batch_size):
            yield line

    async def import_jsonl(
        self, lines: Iterable[str | bytes], *, batch_size: int = 500
    ) -> ImportReport:
        """Import the lines of an export (text, or bytes read from a file in binary mode).

        Idempotent: a session already stored as it is in the file is left alone, one that
        differs is replaced. A line that cannot be read is reported with its number in
        ``ImportReport.errors``, and the other lines are imported: bytes that are not UTF-8,
        text that is not JSON, a missing required field (``session_id``, ``agent_name``,
        ``model``, ``messages``), and a session id already given on an earlier line (the first
        line with an id is imported). Each batch of ``batch_size`` sessions is one transaction.
        """
        backend = await self._ready()
        return await import_lines(
            backend,
            lines,
            batch_size=batch_size,
            fire_saved=self._hooks.saved if self._hooks.wants_saved else None,
        )
