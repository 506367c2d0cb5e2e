"""The asynchronous session history: the library's main door.

:class:`SessionHistory` applies the rules that hold whatever the storage: a disabled history does
no I/O and answers as the reference design does (``None``, ``[]``, ``0``, ``False``); hooks fire
after each write commits; pruning follows the config. The storage itself is a backend
(:mod:`session_history._backends`).
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import threading
import warnings
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

import pluggy
from pydantic import JsonValue

from . import _arguments as check
from ._backends import Backend, ListQuery, open_backend
from ._backends.base import BranchTarget, WriteContext
from ._backends.shared import with_entry_ids
from ._backends.tree import new_entry_id
from ._backends.windows import read_windows
from ._background import wait
from ._codec import MESSAGES, json_array
from ._config import HistoryConfig
from ._errors import InvalidQueryError, StoreClosedError
from ._ids import check_session_id
from ._jsonl import export_lines, export_text, import_lines
from ._models import (
    Branch,
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
        check.instance("config", config, HistoryConfig, allow_none=True)
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
        check_session_id(check.instance("session", session, Session).session_id)
        check.session_data(session)
        backend = await self._ready()
        session = self._stamped(session)
        summary = await backend.create_session(session, want_summary=self._hooks.wants_saved)
        if summary is not None:
            await self._hooks.saved(summary, session.messages, "create")

    async def save_session(self, session: Session) -> None:
        """Store ``session``, replacing any stored session with the same id.

        The messages that the stored current branch shares with ``session.messages`` from the
        first (an agent loop saving after each turn shares them all) stay as they are, with
        their entry ids; only the others are written, and the rest of the stored branch is
        popped (other branches and forks keep theirs).
        """
        check_session_id(check.instance("session", session, Session).session_id)
        check.session_data(session)
        backend = await self._ready()
        if self.config.session_ttl is not None:
            session = session.model_copy(update={"expires_at": self._expiry()})
        ids = [m.entry_id or new_entry_id() for m in session.messages]
        result = await backend.save_session(session, ids=ids, want_summary=self._hooks.wants_saved)
        if result.summary is not None:
            await self._hooks.saved(result.summary, result.new_messages, "save")

    def _expiry(self) -> datetime | None:
        """When a session written now expires, by ``HistoryConfig.session_ttl`` (sliding)."""
        ttl = self.config.session_ttl
        return utc_now() + ttl if ttl is not None else None

    def _stamped(self, session: Session) -> Session:
        """``session`` with an entry id on every message, and its expiry by the config's TTL."""
        messages, _ = with_entry_ids(session.messages)
        update: dict[str, object] = {"messages": messages}
        if self.config.session_ttl is not None:
            update["expires_at"] = self._expiry()
        return session.model_copy(update=update)

    def _context(self, scope: str | None, expected_revision: int | None) -> WriteContext:
        """What a write checks (its caller's scope, the revision it expects) and sets."""
        return WriteContext(
            check.text("scope", scope, allow_none=True),
            check.count("expected_revision", expected_revision, minimum=1, allow_none=True),
            self._expiry(),
        )

    async def append_messages(
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
        """Append ``messages``, in order, after the head of the session's current branch,
        atomically.

        Args:
            session_id: The session to add to.
            messages: The messages; concurrent appends never interleave within one call. A
                message's ``entry_id`` is kept; the store gives one (a UUIDv7) to each that has
                none.
            usage: Token usage of these messages, added to the session's total.
            create: When no session ``session_id`` is stored, store this one (its id must be
                ``session_id``; its own messages, if any, come first) with ``messages`` after
                it, in the same transaction: a session made on its first write, race-free
                across writers. Hooks are told of a ``"create"`` then.
            expected_revision: Append only if the session is at this revision
                (``SessionSummary.revision``); else RevisionConflictError, nothing written.
            scope: The caller's scope: a session of another scope is missing to it.
            state: Keys to set in the session's state in the same transaction (None as a value
                removes the key).

        Returns:
            The entry ids of ``messages``, in order (``[]`` when the history is disabled).
            When every message carries an id that is
            already on the session's current path, the append was made before (a retry of a call
            whose outcome was unknown: cancelled, or its connection lost while committing):
            nothing is stored again, and the same ids come back.

        Raises:
            SessionNotFoundError: no session with this id is stored, and no ``create``.
            RevisionConflictError: ``expected_revision`` is not the stored revision.
        """
        check_session_id(session_id)
        check.messages_data(check.messages(messages))
        check.usage_data(check.instance("usage", usage, Usage, allow_none=True))
        if create is not None:
            check.session_data(check.instance("create", create, Session))
        first = None
        if state is not None:
            _state(state)
        messages, given = with_entry_ids(messages)
        if create is not None:
            if create.session_id != session_id:
                raise InvalidQueryError(
                    f"create is session {create.session_id!r}, not {session_id!r}; give the "
                    "session to create when the one appended to is missing"
                )
            total = create.usage + usage if create.usage and usage else create.usage or usage
            if state:
                create = create.model_copy(update={"state": {**create.state, **state}})
            first = self._stamped(create).model_copy(
                update={
                    "messages": [*with_entry_ids(create.messages)[0], *messages],
                    "usage": total,
                }
            )
        backend = await self._ready()
        result = await backend.append_messages(
            session_id,
            messages,
            usage=usage,
            create=first,
            context=self._context(scope, expected_revision),
            state=state,
            retry_check=given,
            want_summary=self._hooks.wants_saved,
        )
        if result.summary is not None and result.stored:
            if first is not None and result.created:
                await self._hooks.saved(result.summary, first.messages, "create")
            else:
                await self._hooks.saved(result.summary, messages, "append")
        if not self.config.enabled:
            return []  # nothing was stored, so no entry has an id
        return [m.entry_id or "" for m in messages]

    async def pop_messages(
        self,
        session_id: str,
        n: int = 1,
        *,
        expected_revision: int | None = None,
        scope: str | None = None,
    ) -> list[ChatMessage]:
        """Remove the last ``n`` messages of the session's current branch, atomically, and
        return them in order.

        The summary's counts follow; usage stays (tokens were spent). Concurrent appends and pops
        on one session never lose, duplicate or bring back a message. Entries another branch or
        a fork still reaches stay stored for it. Fires ``session_history_popped`` when something
        was removed.

        Returns:
            The removed messages, oldest first: fewer than ``n`` when the branch holds fewer,
            ``[]`` when it is empty or the session missing.

        Raises:
            RevisionConflictError: ``expected_revision`` is not the stored revision.
        """
        check_session_id(session_id)
        n = check.count("n", n)
        backend = await self._ready()
        if n == 0:
            return []
        result = await backend.pop_messages(
            session_id,
            n,
            context=self._context(scope, expected_revision),
            want_summary=self._hooks.wants_popped,
        )
        if result.summary is not None and result.popped:
            await self._hooks.popped(result.summary, result.popped)
        return result.popped

    async def branch_session(
        self,
        session_id: str,
        *,
        at: int | None = None,
        from_entry: str | None = None,
        expected_revision: int | None = None,
        scope: str | None = None,
    ) -> SessionSummary:
        """Move the session's head back: to keep the first ``at`` messages of the current
        branch, or to the entry ``from_entry`` (on the current branch, or on a branch the
        session left). The messages left behind stay stored as a branch
        (:meth:`list_branches`); the next append goes on the new branch. Switching back is a
        branch to the other branch's tip.

        Returns:
            The session's summary after the move.

        Raises:
            SessionNotFoundError: no such session.
            InvalidQueryError: ``at`` out of range, ``from_entry`` not in the session, or not
                exactly one of the two given.
            RevisionConflictError: ``expected_revision`` is not the stored revision.
        """
        check_session_id(session_id)
        target = _target(at, from_entry, required=True)
        backend = await self._ready()
        summary = await backend.branch_session(
            session_id, target, context=self._context(scope, expected_revision)
        )
        if self._hooks.wants_saved:
            await self._hooks.saved(summary, [], "branch")
        return summary

    async def list_branches(self, session_id: str, *, scope: str | None = None) -> list[Branch]:
        """The session's branches, oldest update first: each one's ``tip`` entry, ``length``,
        ``updated_at``, and whether it is the ``current`` one. ``[]`` when the session is
        missing."""
        check_session_id(session_id)
        backend = await self._ready()
        return await backend.list_branches(session_id, _scope(scope)) or []

    async def fork_session(
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
        """Start session ``new_id`` whose history is the first ``at`` messages of the source's
        current branch (all by default), or the path to its entry ``from_entry``: the entries
        are shared, not copied. The fork has the source's agent and model, its own ``scope``
        and ``metadata`` when given (else the source's), no usage and no state yet; its summary
        records ``forked_from`` and ``forked_at``. Deleting the source leaves every fork whole.

        Raises:
            SessionNotFoundError: no source session (of ``source_scope``, when given).
            SessionExistsError: a session ``new_id`` is stored.
            InvalidQueryError: ``at`` out of range, or ``from_entry`` not in the source.
        """
        check_session_id(source_id)
        check_session_id(new_id)
        _scope(scope)
        _scope(source_scope)
        if metadata is not None:
            check.session_data(
                Session(session_id=new_id, agent_name="", model="", metadata=metadata)
            )
        target = _target(at, from_entry, required=False)
        backend = await self._ready()
        summary = await backend.fork_session(
            source_id,
            new_id,
            target,
            source_scope=source_scope,
            scope=scope,
            metadata=metadata,
            expires_at=self._expiry(),
        )
        if self._hooks.wants_saved:
            messages = await backend.load_messages(new_id, None, None)
            await self._hooks.saved(summary, messages, "fork")
        return summary

    async def set_state(
        self,
        session_id: str,
        state: dict[str, JsonValue],
        *,
        expected_revision: int | None = None,
        scope: str | None = None,
    ) -> SessionSummary:
        """Set keys of the session's state (None as a value removes the key), in one
        transaction; the revision changes. To write state together with messages, give it to
        :meth:`append_messages`.

        Raises:
            SessionNotFoundError: no such session.
            RevisionConflictError: ``expected_revision`` is not the stored revision.
        """
        check_session_id(session_id)
        _state(state)
        backend = await self._ready()
        return await backend.set_state(
            session_id, state, context=self._context(scope, expected_revision)
        )

    async def load_state(
        self, session_id: str, *, scope: str | None = None
    ) -> dict[str, JsonValue] | None:
        """The session's state (``{}`` when it has none), or None when the session is missing."""
        check_session_id(session_id)
        backend = await self._ready()
        return await backend.load_state(session_id, _scope(scope))

    async def delete_session(self, session_id: str, *, scope: str | None = None) -> bool:
        """Delete a session and its messages; False when there was no such session. Entries a
        fork shares stay stored for the fork."""
        check_session_id(session_id)
        backend = await self._ready()
        deleted = await backend.delete_session(session_id, _scope(scope))
        if deleted:
            await self._hooks.deleted(session_id)
        return deleted

    async def enforce_max_sessions(self) -> int:
        """Prune by the config: drop sessions older than ``max_age``, then all but the
        ``max_sessions`` most recently updated. Returns how many were pruned."""
        pruned = await self.prune(
            max_sessions=self.config.max_sessions, max_age=self.config.max_age, expired=True
        )
        return len(pruned)

    async def prune(
        self,
        *,
        max_sessions: int | None = None,
        max_age: timedelta | None = None,
        expired: bool = False,
        scope: str | None = None,
        dry_run: bool = False,
    ) -> list[SessionSummary]:
        """Remove expired sessions (with ``expired``), then sessions not updated within
        ``max_age``, then all but the ``max_sessions`` newest, in one transaction; only among
        ``scope``'s sessions when it is given. Returns the removed sessions (with ``dry_run``,
        the ones that would be removed, removing nothing and firing no hook). Entries a fork
        shares with a removed session stay stored for the fork."""
        max_sessions = check.count("max_sessions", max_sessions, allow_none=True)
        check.duration("max_age", max_age)
        check.flag("expired", expired)
        check.text("scope", scope, allow_none=True)
        check.flag("dry_run", dry_run)
        backend = await self._ready()
        now, older_than = utc_now(), None
        if max_age is not None and max_age < now - datetime.min.replace(tzinfo=UTC):
            older_than = now - max_age  # else none is old enough: none was updated before year 1
        results = await backend.prune(
            max_sessions=max_sessions,
            older_than=older_than,
            expired=expired,
            scope=scope,
            dry_run=dry_run,
        )
        if not dry_run:
            for result in results:
                await self._hooks.pruned(result.pruned, result.reason)
        return [summary for result in results for summary in result.pruned]

    # -- reads -------------------------------------------------------------------------------

    async def load_session(self, session_id: str, *, scope: str | None = None) -> Session | None:
        """The session with the messages of its current branch in order, and its state; None
        when it is missing (or expired, or of another ``scope`` than the one given)."""
        check_session_id(session_id)
        backend = await self._ready()
        return await backend.load_session(session_id, _scope(scope))

    async def load_messages(
        self, session_id: str, *, last: int | None = None, scope: str | None = None
    ) -> list[ChatMessage]:
        """The messages of the session's current branch in order, without its summary; ``[]``
        when it is missing.

        Args:
            session_id: The session to read.
            last: Only the last this many messages (still oldest first). They are read from
                the end, so the cost depends on ``last``, not on the session's length.
            scope: The caller's scope: a session of another scope is missing to it.
        """
        check_session_id(session_id)
        last = check.count("last", last, allow_none=True)
        backend = await self._ready()
        if last == 0:
            return []
        return await backend.load_messages(session_id, last, _scope(scope))

    async def iter_messages(
        self, session_id: str, *, batch_size: int = 1000, scope: str | None = None
    ) -> AsyncIterator[ChatMessage]:
        """The messages of the session's current branch in order, as :meth:`load_messages`
        gives them, read ``batch_size`` at a time: memory stays flat however long the session.

        The messages are those of the branch when the read began (an append meanwhile is not
        seen); nothing when the session is missing.

        Raises:
            DatabaseError: a pop, delete or prune removed messages of the branch while it was
                read (what was yielded is then not the whole branch: read it again).
        """
        batch_size = check.count("batch_size", batch_size, minimum=1)
        backend = await self._ready()
        found = await backend.read_path(session_id, _scope(scope))
        if found is None:
            return
        async for bodies in read_windows(backend, session_id, found, batch_size):
            for message in MESSAGES.validate_json(json_array(bodies)):
                yield message

    async def load_metadata(
        self, session_id: str, key: str, *, last: int | None = None, scope: str | None = None
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
        if not _KEY.fullmatch(check.text("key", key)):
            raise InvalidQueryError(
                f"metadata key {key!r} is not one load_metadata reads; use letters, digits, "
                "'_' and '-'"
            )
        last = check.count("last", last, allow_none=True)
        backend = await self._ready()
        if last == 0:
            return []
        return await backend.load_metadata(session_id, key, last, _scope(scope))

    async def get_summary(
        self, session_id: str, *, scope: str | None = None
    ) -> SessionSummary | None:
        """The session's summary (counts of its current branch, usage, times, revision, head)
        without reading its messages, or None."""
        check_session_id(session_id)
        backend = await self._ready()
        return await backend.get_summary(session_id, _scope(scope))

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
        scope: str | None = None,
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
            scope: Only sessions of this scope.
        """
        limit = check.count("limit", limit, allow_none=True)
        offset = check.count("offset", offset)
        check.instance("after", after, SessionSummary, allow_none=True)
        query = ListQuery(
            limit=limit,
            offset=offset,
            after=(after.updated_at, after.id) if after is not None else None,
            agent_name=check.text("agent_name", agent_name, allow_none=True),
            model=check.text("model", model, allow_none=True),
            updated_since=check.moment("updated_since", updated_since),
            updated_until=check.moment("updated_until", updated_until),
            scope=check.text("scope", scope, allow_none=True),
        )
        backend = await self._ready()
        return await backend.list_sessions(query)

    async def list_agent_sessions(self, agent_name: str) -> list[SessionSummary]:
        """The sessions of one agent, most recently updated first."""
        return await self.list_sessions(agent_name=check.text("agent_name", agent_name))

    async def session_count(self, *, scope: str | None = None) -> int:
        """How many sessions are stored (of ``scope``, when given)."""
        backend = await self._ready()
        return await backend.session_count(_scope(scope))

    # -- search, stats, export, import ----------------------------------------------------------

    async def search(
        self,
        query: str,
        *,
        agent_name: str | None = None,
        scope: str | None = None,
        limit: int = 20,
        highlight: tuple[str, str] = ("[", "]"),
    ) -> list[SearchHit]:
        """Messages matching ``query``, best first.

        Searches message content, reasoning, and tool-call names and arguments, on every branch
        of every session (a hit says its session and entry). A query is plain
        words (all must match) and "quoted phrases"; ``word*`` matches a prefix. No search
        syntax to learn, and none to get wrong.

        Args:
            query: What to look for.
            agent_name: Only this agent's sessions.
            scope: Only sessions of this scope.
            limit: At most this many hits.
            highlight: The marks put around each match in the snippets.

        Raises:
            InvalidQueryError: the query has nothing to search for or an unbalanced quote.
        """
        terms = parse_query(check.instance("query", query, str))
        check.text("agent_name", agent_name, allow_none=True)
        _scope(scope)
        limit = check.count("limit", limit, minimum=1)
        check.highlight(highlight)
        backend = await self._ready()
        return await backend.search(
            terms, agent_name=agent_name, scope=scope, limit=limit, highlight=highlight
        )

    async def stats(self, *, scope: str | None = None) -> HistoryStats:
        """Counts of sessions, messages (of current branches), turns, tool calls and tokens, per
        agent and model; of ``scope``'s sessions when it is given."""
        backend = await self._ready()
        return await backend.stats(_scope(scope))

    async def export_jsonl(self, *, batch_size: int = 500) -> AsyncIterator[str]:
        """Every session as one JSON line (an ``ExportedSession``), lossless, in a stable order.

        Sessions are read ``batch_size`` at a time, each batch in one consistent snapshot.
        """
        batch_size = check.count("batch_size", batch_size, minimum=1)
        backend = await self._ready()
        async for line in export_lines(backend, batch_size=batch_size):
            yield line

    async def export_chunks(self, *, batch_size: int = 500) -> AsyncIterator[str]:
        """The export as text, in pieces: their concatenation is each line of
        :meth:`export_jsonl` followed by ``"\n"``, and no piece holds more than a window of
        messages, so a session of any length is written without holding its line.

        ``async for chunk in history.export_chunks(): file.write(chunk)``. A piece that is
        ``"\n"`` ends a line (one session). Raises DatabaseError if a pop, delete or prune
        removes messages of a long session while its line is being read.
        """
        batch_size = check.count("batch_size", batch_size, minimum=1)
        backend = await self._ready()
        async for piece in export_text(backend, batch_size=batch_size):
            yield piece

    async def import_jsonl(
        self, lines: Iterable[str | bytes], *, batch_size: int = 500
    ) -> ImportReport:
        """Import the lines of an export (text, or bytes read from a file in binary mode).

        Idempotent: a session already stored as it is in the file is left alone, one that
        differs is replaced. A line that cannot be read is reported with its number in
        ``ImportReport.errors``, and the other lines are imported: bytes that are not UTF-8,
        text that is not JSON, a missing required field (``session_id``, ``agent_name``,
        ``model``, ``messages``), and a session id already given on an earlier line (the first
        line with an id is imported). Each batch of ``batch_size`` sessions is one transaction;
        a session the database refuses (PostgreSQL: a NUL character in text, say) is reported
        with its line the same way, and the rest of its batch stored.
        """
        checked = check.lines(lines)
        batch_size = check.count("batch_size", batch_size, minimum=1)
        backend = await self._ready()
        return await import_lines(
            backend,
            checked,
            batch_size=batch_size,
            fire_saved=self._hooks.saved if self._hooks.wants_saved else None,
        )


def _scope(scope: object) -> str | None:
    return check.text("scope", scope, allow_none=True)


def _state(state: object) -> None:
    """State is a dict of JSON values, numbers finite (a NaN would be stored changed)."""
    if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
        raise InvalidQueryError(f"state must be a dict with str keys, not {type(state).__name__}")
    try:
        json.dumps(state, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidQueryError(f"state cannot be stored as JSON exactly: {exc}") from None


def _target(at: int | None, from_entry: str | None, *, required: bool) -> BranchTarget:
    check.text("from_entry", from_entry, allow_none=True)
    if at is not None:
        check.count("at", at)
    if at is not None and from_entry is not None:
        raise InvalidQueryError("give at or from_entry, not both")
    if required and at is None and from_entry is None:
        raise InvalidQueryError(
            "give at (how many messages of the current branch to keep) or from_entry"
        )
    return BranchTarget(at=at, from_entry=from_entry)
