"""The SQLite backend: one file, WAL mode, one aiosqlite connection.

How a call runs: aiosqlite owns a worker thread that executes, one at a time, the functions
queued to it. Each operation here is written as a plain ``sqlite3`` function -- a whole
transaction, ``BEGIN IMMEDIATE`` to ``COMMIT`` -- and handed to that thread in one piece
(:meth:`SQLiteBackend._run`). That gives us, without any lock:

* atomicity between tasks sharing the connection: no other task's statement can land inside our
  transaction, because the thread runs nothing else until the function returns;
* one hand-off per operation instead of one per statement (each costs tens of microseconds);
* no event-loop-bound state, so the same store serves calls from several event loops (the
  blocking doors run their calls on a shared loop in a background thread).

Between processes, ``BEGIN IMMEDIATE`` takes the write lock up front and the busy timeout makes
a second writer wait for it, so concurrent appends queue instead of failing or losing rows.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite
from pydantic import TypeAdapter

from ..errors import (
    DatabaseError,
    InvalidQueryError,
    MigrationError,
    NotADatabaseError,
    SessionExistsError,
    SessionHistoryError,
    SessionNotFoundError,
    StoreClosedError,
)
from ..models import (
    ChatMessage,
    ExportedSession,
    HistoryStats,
    SearchHit,
    Session,
    SessionSummary,
    Usage,
    message_counts,
    utc_now,
)
from ..search import Term, fts5_query, search_text
from .base import ExportBatch, ImportOutcome, ListQuery, PruneResult, SaveResult
from .sqlite_schema import (
    MIGRATIONS_TABLE,
    REFERENCE_TABLE,
    format_ts,
    message_body,
    migrations,
)

__all__ = ["SQLiteBackend"]

T = TypeVar("T")

SQLITE_HEADER = b"SQLite format 3\x00"

_SUMMARY_JSON = "summary"  # a generated column: see sqlite_schema.m001_initial

_SESSION_JSON = """json_object(
    'session_id', session_id, 'agent_name', agent_name, 'model', model,
    'started_at', started_at, 'ended_at', ended_at,
    'usage', json(usage), 'metadata', json(metadata))"""

_EXPORT_JSON = """json_object(
    'session_id', session_id, 'agent_name', agent_name, 'model', model,
    'started_at', started_at, 'ended_at', ended_at, 'updated_at', updated_at,
    'usage', json(usage), 'metadata', json(metadata))"""

_SUMMARIES = TypeAdapter(list[SessionSummary])
_HITS = TypeAdapter(list[SearchHit])
_MESSAGES = TypeAdapter(list[ChatMessage])


def _json_array(items: Iterable[str]) -> str:
    return "[" + ",".join(items) + "]"


@contextlib.contextmanager
def _atomic(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction. IMMEDIATE takes the write lock at BEGIN, so a transaction never
    fails half-way because another process wrote first (a DEFERRED one could, with SQLITE_BUSY
    that no busy timeout retries)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextlib.contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """A read transaction, so that several SELECTs see one state of the database."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def _summaries(rows: Sequence[tuple[str]]) -> list[SessionSummary]:
    # One JSON document validated by pydantic-core in one call is several times faster than
    # building the models row by row in Python.
    return _SUMMARIES.validate_json("[" + ",".join(row[0] for row in rows) + "]")


def _summary(conn: sqlite3.Connection, session_pk: int) -> SessionSummary:
    (text,) = conn.execute(
        f"SELECT {_SUMMARY_JSON} FROM sessions WHERE pk = ?", (session_pk,)
    ).fetchone()
    return SessionSummary.model_validate_json(text)


_Row = tuple[str, str, str]
"""A message ready to store: (role, body JSON, search text), made before the hand-off."""


def _prepare(messages: Sequence[ChatMessage]) -> list[_Row]:
    return [(m.role.value, message_body(m), search_text(m)) for m in messages]


def _bodies(rows: Sequence[_Row]) -> list[str]:
    return [body for _, body, _ in rows]


def _insert_messages(
    conn: sqlite3.Connection, session_pk: int, first_seq: int, rows: Sequence[_Row]
) -> None:
    """Insert messages and index them for search, in the caller's transaction.

    Ids are given explicitly (the writer holds the write lock, so max(id) cannot move), which
    lets the index rows be inserted with one executemany too.
    """
    if not rows:
        return
    (top,) = conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()
    conn.executemany(
        "INSERT INTO messages (id, session_pk, seq, role, body) VALUES (?, ?, ?, ?, ?)",
        [
            (top + 1 + i, session_pk, first_seq + i, role, body)
            for i, (role, body, _) in enumerate(rows)
        ],
    )
    conn.executemany(
        "INSERT INTO messages_fts (rowid, text) VALUES (?, ?)",
        [(top + 1 + i, text) for i, (_, _, text) in enumerate(rows)],
    )


def _unindex(conn: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> None:
    """Remove the messages selected by ``where`` from the search index, before they go."""
    conn.execute(
        f"DELETE FROM messages_fts WHERE rowid IN (SELECT id FROM messages WHERE {where})", params
    )


def _list_sql(query: ListQuery) -> tuple[str, list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if query.agent_name is not None:
        where.append("agent_name = ?")
        params.append(query.agent_name)
    if query.model is not None:
        where.append("model = ?")
        params.append(query.model)
    if query.updated_since is not None:
        where.append("updated_at >= ?")
        params.append(format_ts(query.updated_since))
    if query.updated_until is not None:
        where.append("updated_at < ?")
        params.append(format_ts(query.updated_until))
    if query.after is not None:
        where.append("(updated_at, session_id) < (?, ?)")
        params.extend([format_ts(query.after[0]), query.after[1]])
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    params.extend([query.limit if query.limit is not None else -1, query.offset])
    sql = (
        f"SELECT {_SUMMARY_JSON} FROM sessions {clause} "
        "ORDER BY updated_at DESC, session_id DESC LIMIT ? OFFSET ?"
    )
    return sql, params


class SQLiteBackend:
    """Sessions in one SQLite file. See the module docstring for how calls are run."""

    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self._busy_timeout_ms = int(busy_timeout * 1000)
        self._conn: aiosqlite.Connection | None = None

    # -- opening and closing -------------------------------------------------------------

    async def open(self) -> None:
        if self._conn is not None:
            return
        self._prepare_file()
        conn = aiosqlite.connect(self.path, isolation_level=None)
        # aiosqlite's worker thread is not a daemon, so a store its user forgot to close would
        # hang the interpreter at exit (after the last statement, before any finaliser could
        # warn). Nothing is lost by not waiting for it: every call a caller awaited has finished,
        # and SQLite's journal keeps the file whole whatever the thread was doing.
        worker = getattr(conn, "_thread", None)
        if worker is not None:
            worker.daemon = True
        try:
            await conn
        except sqlite3.Error as exc:
            raise DatabaseError(
                f"cannot open {self.path}: {exc}; check the path and its permissions",
                path=self.path,
            ) from exc
        self._conn = conn
        try:
            await self._run(self._migrate)
        except BaseException:
            self._conn = None
            await conn.close()
            raise

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    def _prepare_file(self) -> None:
        """Check the path before SQLite sees it, and create a new file private to its owner."""
        path = self.path
        if path.is_dir():
            raise DatabaseError(
                f"{path} is a directory; give the path of a database file inside it, such as "
                f"{path / 'history.db'}",
                path=path,
            )
        if path.exists():
            with contextlib.suppress(OSError), path.open("rb") as fh:
                header = fh.read(len(SQLITE_HEADER))
                if header and header != SQLITE_HEADER:
                    raise NotADatabaseError(
                        f"{path} is not an SQLite database; give the path of a session-history "
                        "database or of a file that does not exist yet. The file was not changed.",
                        path=path,
                    )
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(
                f"cannot create {path}: {path.parent} is not a directory that can be made "
                f"({exc.strerror}); choose another location (HistoryConfig.db_path, --db or "
                "$SESSION_HISTORY_DB)",
                path=path,
            ) from exc
        try:
            # Conversations are private: the file (and the -wal/-shm files SQLite derives from
            # its mode) is readable and writable by its owner only.
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.close(fd)
        except FileExistsError:
            pass  # another process created it first: fine, it is checked on open
        except OSError as exc:
            raise DatabaseError(
                f"cannot create {path}: {exc.strerror}; choose a writable location "
                "(HistoryConfig.db_path, --db or $SESSION_HISTORY_DB)",
                path=path,
            ) from exc

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        # Everything until the checks pass only reads, so a foreign or newer file is untouched.
        try:
            tables = {
                name
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        except sqlite3.DatabaseError as exc:
            raise NotADatabaseError(
                f"{self.path} is not a readable SQLite database ({exc}); it may be corrupt or "
                "another kind of file. The file was not changed.",
                path=self.path,
            ) from exc
        ours = {MIGRATIONS_TABLE, REFERENCE_TABLE, "sessions", "messages"}
        if tables and not tables & {MIGRATIONS_TABLE, REFERENCE_TABLE}:
            raise NotADatabaseError(
                f"{self.path} is an SQLite database of another program (tables: "
                f"{', '.join(sorted(tables - ours)[:5])}); give session-history a file of its "
                "own. The file was not changed.",
                path=self.path,
            )
        applied = self._applied(conn) if MIGRATIONS_TABLE in tables else set()
        migrations.check_not_newer(applied, path=self.path)
        for step in migrations.pending(applied):
            try:
                with _atomic(conn):
                    conn.execute(
                        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
                        "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
                    )
                    if step.name in self._applied(conn):
                        continue  # another process applied it while we waited for the lock
                    step.apply(conn)
                    conn.execute(
                        f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)",
                        (step.name, format_ts(utc_now())),
                    )
            except (sqlite3.Error, ValueError, TypeError) as exc:
                raise MigrationError(
                    f"could not upgrade {self.path} ({step.name}: {exc}); that step was rolled "
                    "back and the data is as it was. Report this with the message.",
                    path=self.path,
                ) from exc
        # Only now, with the schema known to be ours and current, change how the file is kept.
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            # WAL lets readers work while a writer commits; it is a property of the file.
            conn.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL is durable against application crashes; only an OS crash or power
        # loss can take back the last commits, and never corrupts the file.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")

    @staticmethod
    def _applied(conn: sqlite3.Connection) -> set[str]:
        return {name for (name,) in conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` on the connection's worker thread, as one hand-off.

        ``Connection._execute`` is how every public aiosqlite method reaches the worker thread;
        it is not public API, so the dependency is pinned below aiosqlite's next minor version
        and ``tests/test_sqlite_backend.py`` checks that it is still there.
        """
        conn = self._conn
        if conn is None:
            raise StoreClosedError(
                f"the session history at {self.path} is not open; use 'async with "
                "SessionHistory(config)' or 'await history.open()' first",
                path=self.path,
            )
        try:
            result: T = await conn._execute(fn, conn._conn, *args)  # type: ignore[no-untyped-call]
            return result
        except SessionHistoryError:
            raise
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise DatabaseError(
                    f"{self.path} stayed locked by another writer for longer than the busy "
                    f"timeout ({self._busy_timeout_ms} ms); nothing was written. Try again, or "
                    "raise HistoryConfig.busy_timeout.",
                    path=self.path,
                ) from exc
            raise DatabaseError(f"{self.path}: {exc}", path=self.path) from exc
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(
                f"{self.path} could not be read or written ({exc}); it may be damaged. "
                "Nothing was written.",
                path=self.path,
            ) from exc

    # -- writes ------------------------------------------------------------------------------

    async def create_session(
        self, session: Session, *, want_summary: bool
    ) -> SessionSummary | None:
        return await self._run(self._create, session, _prepare(session.messages), want_summary)

    def _create(
        self, conn: sqlite3.Connection, session: Session, rows: list[_Row], want_summary: bool
    ) -> SessionSummary | None:
        with _atomic(conn):
            if conn.execute(
                "SELECT 1 FROM sessions WHERE session_id = ?", (session.session_id,)
            ).fetchone():
                raise SessionExistsError(session.session_id)
            pk = self._insert_session(conn, session, rows)
            return _summary(conn, pk) if want_summary else None

    def _insert_session(
        self,
        conn: sqlite3.Connection,
        session: Session,
        rows: list[_Row],
        updated_at: datetime | None = None,
    ) -> int:
        now = format_ts(utc_now())
        turns, tool_calls = message_counts(session.messages)
        cursor = conn.execute(
            "INSERT INTO sessions (session_id, agent_name, model, started_at, updated_at, "
            "ended_at, message_count, turn_count, tool_call_count, usage, metadata) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session.session_id,
                session.agent_name,
                session.model,
                format_ts(session.started_at) if session.started_at else now,
                format_ts(updated_at) if updated_at else now,
                format_ts(session.ended_at) if session.ended_at else None,
                len(session.messages),
                turns,
                tool_calls,
                session.usage.model_dump_json() if session.usage else None,
                _dump_metadata(session),
            ),
        )
        pk = cursor.lastrowid
        assert pk is not None
        _insert_messages(conn, pk, 0, rows)
        return pk

    async def save_session(self, session: Session, *, want_summary: bool) -> SaveResult:
        return await self._run(self._save, session, _prepare(session.messages), want_summary)

    def _save(
        self, conn: sqlite3.Connection, session: Session, rows: list[_Row], want_summary: bool
    ) -> SaveResult:
        with _atomic(conn):
            row = conn.execute(
                "SELECT pk, message_count FROM sessions WHERE session_id = ?", (session.session_id,)
            ).fetchone()
            if row is None:
                pk = self._insert_session(conn, session, rows)
                written: Sequence[ChatMessage] = session.messages
            else:
                pk, stored_count = row
                stored_prefix = self._is_stored_prefix(conn, pk, stored_count, _bodies(rows))
                keep = stored_count if stored_prefix else 0
                if keep == 0:
                    _unindex(conn, "session_pk = ?", (pk,))
                    conn.execute("DELETE FROM messages WHERE session_pk = ?", (pk,))
                written = session.messages[keep:]
                _insert_messages(conn, pk, keep, rows[keep:])
                turns, tool_calls = message_counts(session.messages)
                conn.execute(
                    "UPDATE sessions SET agent_name = ?, model = ?, "
                    "started_at = COALESCE(?, started_at), updated_at = max(updated_at, ?), "
                    "ended_at = ?, message_count = ?, turn_count = ?, tool_call_count = ?, "
                    "usage = ?, metadata = ? WHERE pk = ?",
                    (
                        session.agent_name,
                        session.model,
                        format_ts(session.started_at) if session.started_at else None,
                        format_ts(utc_now()),
                        format_ts(session.ended_at) if session.ended_at else None,
                        len(session.messages),
                        turns,
                        tool_calls,
                        session.usage.model_dump_json() if session.usage else None,
                        _dump_metadata(session),
                        pk,
                    ),
                )
            return SaveResult(_summary(conn, pk) if want_summary else None, written)

    @staticmethod
    def _is_stored_prefix(
        conn: sqlite3.Connection, pk: int, stored_count: int, bodies: list[str]
    ) -> bool:
        if stored_count == 0:
            return False
        if stored_count > len(bodies):
            return False
        # Compare the last stored message first: when a caller rewrote history this is where it
        # usually differs, and it costs one row.
        (last,) = conn.execute(
            "SELECT body FROM messages WHERE session_pk = ? AND seq = ?", (pk, stored_count - 1)
        ).fetchone()
        if last != bodies[stored_count - 1]:
            return False
        stored = conn.execute(
            "SELECT body FROM messages WHERE session_pk = ? ORDER BY seq", (pk,)
        ).fetchall()
        return all(body == new for (body,), new in zip(stored, bodies, strict=False))

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[ChatMessage],
        *,
        usage: Usage | None,
        want_summary: bool,
    ) -> SessionSummary | None:
        return await self._run(
            self._append, session_id, messages, _prepare(messages), usage, want_summary
        )

    def _append(
        self,
        conn: sqlite3.Connection,
        session_id: str,
        messages: Sequence[ChatMessage],
        rows: list[_Row],
        usage: Usage | None,
        want_summary: bool,
    ) -> SessionSummary | None:
        turns, tool_calls = message_counts(messages)
        with _atomic(conn):
            row = conn.execute(
                "SELECT pk, message_count, usage FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
            if row is None:
                raise SessionNotFoundError(session_id)
            pk, count, stored_usage = row
            _insert_messages(conn, pk, count, rows)
            if usage is not None:
                total = Usage.model_validate_json(stored_usage) + usage if stored_usage else usage
                stored_usage = total.model_dump_json()
            conn.execute(
                "UPDATE sessions SET message_count = ?, turn_count = turn_count + ?, "
                "tool_call_count = tool_call_count + ?, updated_at = max(updated_at, ?), "
                "usage = ? WHERE pk = ?",
                (count + len(messages), turns, tool_calls, format_ts(utc_now()), stored_usage, pk),
            )
            return _summary(conn, pk) if want_summary else None

    async def pop_messages(
        self, session_id: str, n: int, *, want_summary: bool
    ) -> tuple[list[ChatMessage], SessionSummary | None]:
        return await self._run(self._pop, session_id, n, want_summary)

    @staticmethod
    def _pop(
        conn: sqlite3.Connection, session_id: str, n: int, want_summary: bool
    ) -> tuple[list[ChatMessage], SessionSummary | None]:
        with _atomic(conn):
            row = conn.execute(
                "SELECT pk, message_count FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
            if row is None:
                return [], None
            pk, count = row
            first = max(count - n, 0)
            bodies = conn.execute(
                "SELECT body FROM messages WHERE session_pk = ? AND seq >= ? ORDER BY seq",
                (pk, first),
            ).fetchall()
            if not bodies:
                return [], None
            popped = _MESSAGES.validate_json(_json_array(body for (body,) in bodies))
            _unindex(conn, "session_pk = ? AND seq >= ?", (pk, first))
            conn.execute("DELETE FROM messages WHERE session_pk = ? AND seq >= ?", (pk, first))
            turns, tool_calls = message_counts(popped)
            conn.execute(
                "UPDATE sessions SET message_count = ?, turn_count = turn_count - ?, "
                "tool_call_count = tool_call_count - ?, updated_at = max(updated_at, ?) "
                "WHERE pk = ?",
                (first, turns, tool_calls, format_ts(utc_now()), pk),
            )
            return popped, _summary(conn, pk) if want_summary else None

    async def delete_session(self, session_id: str) -> bool:
        return await self._run(self._delete, session_id)

    @staticmethod
    def _delete(conn: sqlite3.Connection, session_id: str) -> bool:
        with _atomic(conn):
            _unindex(
                conn, "session_pk = (SELECT pk FROM sessions WHERE session_id = ?)", (session_id,)
            )
            deleted = conn.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
            return deleted.rowcount > 0

    async def prune(
        self, *, max_sessions: int | None, older_than: datetime | None, dry_run: bool
    ) -> list[PruneResult]:
        return await self._run(self._prune, max_sessions, older_than, dry_run)

    @staticmethod
    def _prune(
        conn: sqlite3.Connection,
        max_sessions: int | None,
        older_than: datetime | None,
        dry_run: bool,
    ) -> list[PruneResult]:
        rules: list[tuple[Literal["max_sessions", "max_age"], str, tuple[Any, ...]]] = []
        if older_than is not None:
            rules.append(("max_age", "WHERE updated_at < ?", (format_ts(older_than),)))
        if max_sessions is not None:
            rules.append(
                (
                    "max_sessions",
                    "ORDER BY updated_at DESC, session_id DESC LIMIT -1 OFFSET ?",
                    (max_sessions,),
                )
            )
        results: list[PruneResult] = []
        with _atomic(conn):
            for reason, selection, params in rules:
                rows = conn.execute(
                    f"SELECT {_SUMMARY_JSON} FROM sessions {selection}", params
                ).fetchall()
                if not rows:
                    continue
                results.append(PruneResult(reason, _summaries(rows)))
                if not dry_run:
                    chosen = f"SELECT pk FROM sessions {selection}"
                    _unindex(conn, f"session_pk IN ({chosen})", params)
                    conn.execute(f"DELETE FROM sessions WHERE pk IN ({chosen})", params)
        return results

    # -- reads ------------------------------------------------------------------------------

    async def load_session(self, session_id: str) -> Session | None:
        return await self._run(self._load, session_id)

    @staticmethod
    def _load(conn: sqlite3.Connection, session_id: str) -> Session | None:
        with _snapshot(conn):
            row = conn.execute(
                f"SELECT pk, {_SESSION_JSON} FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
            if row is None:
                return None
            pk, head = row
            bodies = conn.execute(
                "SELECT body FROM messages WHERE session_pk = ? ORDER BY seq", (pk,)
            ).fetchall()
        # Splice the message bodies into the session's JSON and validate it all in one call.
        document = head[:-1] + ',"messages":[' + ",".join(body for (body,) in bodies) + "]}"
        return Session.model_validate_json(document)

    async def load_messages(self, session_id: str, last: int | None) -> list[ChatMessage]:
        return await self._run(self._load_messages, session_id, last)

    @staticmethod
    def _load_messages(
        conn: sqlite3.Connection, session_id: str, last: int | None
    ) -> list[ChatMessage]:
        # Newest first through the (session_pk, seq) index, so only ``last`` rows are read.
        rows = conn.execute(
            "SELECT body FROM messages WHERE session_pk = "
            "(SELECT pk FROM sessions WHERE session_id = ?) ORDER BY seq DESC LIMIT ?",
            (session_id, -1 if last is None else last),
        ).fetchall()
        return _MESSAGES.validate_json(_json_array(body for (body,) in reversed(rows)))

    async def get_summary(self, session_id: str) -> SessionSummary | None:
        return await self._run(self._get_summary, session_id)

    @staticmethod
    def _get_summary(conn: sqlite3.Connection, session_id: str) -> SessionSummary | None:
        row = conn.execute(
            f"SELECT {_SUMMARY_JSON} FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        return SessionSummary.model_validate_json(row[0]) if row else None

    async def list_sessions(self, query: ListQuery) -> list[SessionSummary]:
        sql, params = _list_sql(query)
        return await self._run(self._select_summaries, sql, params)

    @staticmethod
    def _select_summaries(
        conn: sqlite3.Connection, sql: str, params: list[Any]
    ) -> list[SessionSummary]:
        return _summaries(conn.execute(sql, params).fetchall())

    async def session_count(self) -> int:
        return await self._run(self._count)

    @staticmethod
    def _count(conn: sqlite3.Connection) -> int:
        (count,) = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()
        return int(count)

    # -- search, stats, export and import ------------------------------------------------------

    async def search(
        self,
        terms: list[Term],
        *,
        agent_name: str | None,
        limit: int,
        highlight: tuple[str, str],
    ) -> list[SearchHit]:
        params: list[Any] = [highlight[0], highlight[1], fts5_query(terms)]
        if agent_name is not None:
            params.append(agent_name)
        params.append(limit)
        return await self._run(self._search, _search_sql(agent_name), params)

    @staticmethod
    def _search(conn: sqlite3.Connection, sql: str, params: list[Any]) -> list[SearchHit]:
        try:
            rows = conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            # Terms are quoted, so this is rare (an index-level limit); still the user's query.
            raise InvalidQueryError(f"the search query could not be run: {exc}") from exc
        return _HITS.validate_json("[" + ",".join(row[0] for row in rows) + "]")

    async def stats(self) -> HistoryStats:
        stats = await self._run(self._stats)
        size = sum(
            file.stat().st_size for file in (self.path, Path(f"{self.path}-wal")) if file.exists()
        )
        return stats.model_copy(update={"size_bytes": size})

    @staticmethod
    def _stats(conn: sqlite3.Connection) -> HistoryStats:
        with _snapshot(conn):
            totals = conn.execute(
                "SELECT count(*), coalesce(sum(message_count), 0), coalesce(sum(turn_count), 0), "
                "coalesce(sum(tool_call_count), 0), "
                "coalesce(sum(json_extract(usage, '$.input_tokens')), 0), "
                "coalesce(sum(json_extract(usage, '$.output_tokens')), 0), "
                "coalesce(sum(json_extract(usage, '$.total_tokens')), 0), "
                "min(updated_at), max(updated_at) FROM sessions"
            ).fetchone()
            by_agent = conn.execute(
                "SELECT agent_name, count(*) FROM sessions GROUP BY agent_name "
                "ORDER BY count(*) DESC, agent_name"
            ).fetchall()
            by_model = conn.execute(
                "SELECT model, count(*) FROM sessions GROUP BY model ORDER BY count(*) DESC, model"
            ).fetchall()
        keys = ["sessions", "messages", "turns", "tool_calls", "input_tokens", "output_tokens"]
        keys += ["total_tokens", "oldest_update", "newest_update"]
        return HistoryStats.model_validate(
            {
                **dict(zip(keys, totals, strict=True)),
                "sessions_by_agent": dict(by_agent),
                "sessions_by_model": dict(by_model),
                "size_bytes": None,
            }
        )

    async def export_batch(self, cursor: int, limit: int) -> ExportBatch:
        return await self._run(self._export_batch, cursor, limit)

    @staticmethod
    def _export_batch(conn: sqlite3.Connection, cursor: int, limit: int) -> ExportBatch:
        with _snapshot(conn):
            heads = conn.execute(
                f"SELECT pk, {_EXPORT_JSON} FROM sessions WHERE pk > ? ORDER BY pk LIMIT ?",
                (cursor, limit),
            ).fetchall()
            if not heads:
                return ExportBatch([], None)
            rows = conn.execute(
                "SELECT session_pk, body FROM messages WHERE session_pk BETWEEN ? AND ? "
                "ORDER BY session_pk, seq",
                (heads[0][0], heads[-1][0]),
            ).fetchall()
        bodies: dict[int, list[str]] = {pk: [] for pk, _ in heads}
        for pk, body in rows:
            bodies[pk].append(body)
        # The stored JSON is already what a line holds: no model is built, nothing re-encoded.
        lines = [head[:-1] + ',"messages":[' + ",".join(bodies[pk]) + "]}" for pk, head in heads]
        return ExportBatch(lines, heads[-1][0])

    async def import_sessions(
        self, sessions: Sequence[ExportedSession], *, want_summary: bool
    ) -> list[ImportOutcome]:
        prepared = [(s, _prepare(s.messages)) for s in sessions]
        return await self._run(self._import, prepared, want_summary)

    def _import(
        self,
        conn: sqlite3.Connection,
        prepared: list[tuple[ExportedSession, list[_Row]]],
        want_summary: bool,
    ) -> list[ImportOutcome]:
        outcomes: list[ImportOutcome] = []
        with _atomic(conn):
            for session, rows in prepared:
                row = conn.execute(
                    f"SELECT pk, message_count, {_EXPORT_JSON} FROM sessions WHERE session_id = ?",
                    (session.session_id,),
                ).fetchone()
                if row is None:
                    pk = self._insert_session(conn, session, rows, session.updated_at)
                    outcome: Literal["added", "replaced", "unchanged"] = "added"
                else:
                    pk, count, head = row
                    stored = ExportedSession.model_validate_json(head[:-1] + ',"messages":[]}')
                    same_head = stored == session.model_copy(update={"messages": []})
                    if (
                        same_head
                        and count == len(rows)
                        and (count == 0 or self._is_stored_prefix(conn, pk, count, _bodies(rows)))
                    ):
                        outcomes.append(ImportOutcome(session.session_id, "unchanged", None, []))
                        continue
                    _unindex(conn, "session_pk = ?", (pk,))
                    conn.execute("DELETE FROM sessions WHERE pk = ?", (pk,))
                    pk = self._insert_session(conn, session, rows, session.updated_at)
                    outcome = "replaced"
                summary = _summary(conn, pk) if want_summary else None
                outcomes.append(
                    ImportOutcome(session.session_id, outcome, summary, session.messages)
                )
        return outcomes


def _dump_metadata(session: Session) -> str:
    # Validated as JSON values by the model, so the standard encoder takes it as is.
    return json.dumps(session.metadata, ensure_ascii=False)


def _search_sql(agent_name: str | None) -> str:
    agent = "AND s.agent_name = ?" if agent_name is not None else ""
    return f"""
        SELECT json_object(
            'session_id', s.session_id, 'seq', m.seq, 'role', m.role,
            'snippet', snippet(messages_fts, 0, ?, ?, '…', 16),
            'rank', -bm25(messages_fts), 'agent_name', s.agent_name, 'model', s.model)
        FROM messages_fts
        JOIN messages AS m ON m.id = messages_fts.rowid
        JOIN sessions AS s ON s.pk = m.session_pk
        WHERE messages_fts MATCH ? {agent}
        ORDER BY bm25(messages_fts), s.session_id, m.seq
        LIMIT ?
    """
