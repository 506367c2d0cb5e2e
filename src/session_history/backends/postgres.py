"""The PostgreSQL backend: the same store on a server, for many machines.

Chosen by giving the config a ``postgresql://`` URL. The driver is asyncpg with its own
connection pool (why: see the README). A pool belongs to the event loop that made it, while a
session history is used from any loop (the sync door's, a test's, the application's); so, as
aiosqlite does for SQLite, the backend keeps its pool on session-history's shared background loop
(the one the blocking doors use, in a daemon thread) and hands every operation to it as one
coroutine; calls made through a blocking door are already there and go straight through. The
store keeps no state bound to the caller's loop.

Writes are single statements where they can be (an append is one ``UPDATE ... RETURNING`` and
one ``INSERT`` in a single round trip: the ``UPDATE`` takes the session row's lock, so concurrent
appenders from any number of processes queue on it and each gets the next sequence numbers), and
explicit transactions otherwise. Migrations run under a transaction-scoped advisory lock, so
servers starting at once apply each step exactly once.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Coroutine, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import TypeAdapter

from ..errors import (
    DatabaseError,
    InvalidQueryError,
    MigrationError,
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
)
from ..search import Term, fold, search_text
from .base import ExportBatch, ImportOutcome, ListQuery, PruneResult, SaveResult
from .postgres_schema import migrations
from .sqlite_schema import message_body

__all__ = ["PostgresBackend", "drop_schema", "redact_url", "with_schema"]

T = TypeVar("T")

_SUMMARIES = TypeAdapter(list[SessionSummary])
_HITS = TypeAdapter(list[SearchHit])
_MESSAGES = TypeAdapter(list[ChatMessage])


def redact_url(url: str) -> str:
    """The URL without its password, for messages and reprs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _split_schema(url: str) -> tuple[str, str]:
    """Take our own ``schema`` parameter out of the URL (asyncpg would send it to the server)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((value for key, value in query if key == "schema"), "session_history")
    rest = [(key, value) for key, value in query if key != "schema"]
    return urlunsplit(parts._replace(query=urlencode(rest))), schema


def with_schema(url: str, schema: str) -> str:
    """``url`` naming PostgreSQL schema ``schema`` (how tests give each run a schema of its own)."""
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


async def drop_schema(url: str) -> None:
    """Drop the schema a URL names, with all it holds: for throwaway stores (tests, demos)."""
    import asyncpg

    dsn, schema = _split_schema(url)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {_ident(schema)} CASCADE")
    finally:
        await conn.close()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# A summary as JSON text, by concatenation: json_build_object takes 22 of the 29 ms that
# PostgreSQL spends on 5,000 summaries, concatenation 17 (to_json quotes strings and writes
# times as ISO 8601, as json_build_object does).
_SUMMARY_JSON = """('{"id":' || to_json(session_id) || ',"agent_name":' || to_json(agent_name)
    || ',"model":' || to_json(model) || ',"message_count":' || message_count
    || ',"turn_count":' || turn_count || ',"tool_call_count":' || tool_call_count
    || ',"started_at":' || to_json(started_at) || ',"updated_at":' || to_json(updated_at)
    || ',"ended_at":' || coalesce(to_json(ended_at)::text, 'null')
    || ',"usage":' || coalesce(usage::text, 'null') || ',"metadata":' || metadata::text || '}')"""

_EXPORT_JSON = """json_build_object(
    'session_id', session_id, 'agent_name', agent_name, 'model', model,
    'started_at', started_at, 'ended_at', ended_at, 'updated_at', updated_at,
    'usage', usage, 'metadata', metadata)::text"""


# U+0000 as JSON writes it: \u0000 after an even number of backslashes (an odd number means the
# backslash itself was escaped, and the text merely says "\u0000").
_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _rows(messages: Sequence[ChatMessage]) -> tuple[list[str], list[str], list[str]]:
    """Roles, bodies and search texts of messages, refusing what PostgreSQL cannot store."""
    bodies = [message_body(m) for m in messages]
    for index, body in enumerate(bodies):
        if _NUL.search(body):
            # jsonb and text refuse U+0000; better said here, before anything is written.
            raise InvalidQueryError(
                f"message {index} contains the NUL character (U+0000), which PostgreSQL cannot "
                "store in text or JSONB; remove it (SQLite stores it)"
            )
    return [m.role.value for m in messages], bodies, [search_text(m) for m in messages]


class PostgresBackend:
    """Sessions in a PostgreSQL schema. See the module docstring for how calls are run."""

    def __init__(self, url: str, *, busy_timeout: float = 30.0) -> None:
        self._dsn, self.schema = _split_schema(url)
        self.location = redact_url(url)
        self._s = _ident(self.schema)
        self._timeout = busy_timeout
        self._pool: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # One pooled connection kept out of the pool between calls: a call that finds it free
        # (sequential callers always do) skips the pool's acquire and release, which cost about
        # 0.1 ms a call (a task for asyncio.shield, timeouts, the reset hook). Concurrent calls
        # take connections from the pool as usual. Only the backend's loop touches these.
        self._held: Any = None
        self._held_free = False

    # -- opening and closing ------------------------------------------------------------------

    async def open(self) -> None:
        if self._pool is not None:
            return
        from ..sync import background_loop

        self._loop = background_loop()
        self._pool = await self._on_loop(self._connect())

    async def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the loop that owns the pool: directly when we are on it (calls
        through the sync door are), else handed over to it."""
        loop = self._loop
        assert loop is not None
        if asyncio.get_running_loop() is loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    async def _connect(self) -> Any:
        import asyncpg  # the optional dependency of the postgres extra

        host = urlsplit(self._dsn).hostname or "localhost"
        try:
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=10,
                command_timeout=self._timeout,
                server_settings={"timezone": "UTC", "application_name": "session-history"},
                reset=_keep_session_state,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # Never the exception's own text alone: some drivers echo the DSN, password included.
            raise DatabaseError(
                f"cannot connect to PostgreSQL at {host} ({type(exc).__name__}: "
                f"{redact_url(str(exc))}); check that the server runs and the URL's user, "
                "password and database are right",
                path=self.location,
            ) from None
        try:
            await self._migrate(pool)
        except BaseException:
            await pool.close()
            raise
        return pool

    async def _migrate(self, pool: Any) -> None:
        import asyncpg

        s = self._s
        async with pool.acquire() as conn:
            exists = await conn.fetchval(
                "SELECT to_regclass($1) IS NOT NULL", f"{self.schema}.migrations"
            )
            applied = (
                {r["name"] for r in await conn.fetch(f"SELECT name FROM {s}.migrations")}
                if exists
                else set()
            )
            migrations.check_not_newer(applied, path=self.location)
            for step in migrations.pending(applied):
                try:
                    async with conn.transaction():
                        # One server at a time; the others wait here, then find it applied.
                        await conn.execute(
                            "SELECT pg_advisory_xact_lock(hashtext($1))",
                            f"session_history:{self.schema}",
                        )
                        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
                        await conn.execute(
                            f"CREATE TABLE IF NOT EXISTS {s}.migrations "
                            "(name text PRIMARY KEY, applied_at timestamptz NOT NULL)"
                        )
                        done = await conn.fetchval(
                            f"SELECT 1 FROM {s}.migrations WHERE name = $1", step.name
                        )
                        if done:
                            continue
                        result = step.apply((conn, s))
                        if isinstance(result, Awaitable):
                            await result
                        await conn.execute(
                            f"INSERT INTO {s}.migrations (name, applied_at) VALUES ($1, now())",
                            step.name,
                        )
                except asyncpg.PostgresError as exc:
                    raise MigrationError(
                        f"could not upgrade {self.location} ({step.name}: {exc}); that step "
                        "was rolled back and the data is as it was. Report this with the message.",
                        path=self.location,
                    ) from exc

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await self._on_loop(self._close_pool(pool))

    async def _close_pool(self, pool: Any) -> None:
        held, free = self._held, self._held_free
        self._held, self._held_free = None, False
        if held is not None and free:
            await pool.release(held)  # one in use is released by its call, when it ends
        await pool.close()

    async def _run(self, coro_fn: Any, *args: Any) -> Any:
        """Run ``coro_fn(connection, *args)`` on the backend's loop with a pooled connection."""
        if self._pool is None or self._loop is None:
            raise StoreClosedError(
                f"the session history at {self.location} is not open; use 'async with "
                "SessionHistory(config)' or 'await history.open()' first",
                path=self.location,
            )
        pool = self._pool

        async def call() -> Any:
            import asyncpg

            broken = (asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)
            try:
                conn = self._held if self._held_free else None
                if conn is not None:
                    self._held_free = False
                else:
                    conn = await pool.acquire()
                reusable = False
                try:
                    result = await coro_fn(conn, *args)
                    reusable = True
                    return result
                except (*broken, asyncpg.exceptions.OperatorInterventionError):
                    # The connection is gone or in no state to reuse: close it, so the
                    # pool opens a fresh one for the next call instead of handing it out.
                    conn.terminate()
                    raise
                except (SessionHistoryError, asyncpg.PostgresError):
                    reusable = True  # a refused statement leaves the connection as it was
                    raise
                finally:
                    # Cancelled calls and broken connections go back through the pool, which
                    # waits out a cancelled query and replaces a closed connection.
                    await self._give_back(pool, conn, reusable and not conn.is_closed())
            except SessionHistoryError:
                raise
            except (asyncpg.PostgresError, *broken) as exc:
                # Every write is one statement or one transaction: when it fails, none of it
                # is stored (a write whose commit reply was lost may be; it never half is).
                raise DatabaseError(
                    f"{self.location}: {type(exc).__name__}: {exc}; a write in this call "
                    "happened whole or not at all: load the session before trying again.",
                    path=self.location,
                ) from exc

        return await self._on_loop(call())

    async def _give_back(self, pool: Any, conn: Any, reusable: bool) -> None:
        if reusable and self._pool is pool and (self._held is None or self._held is conn):
            self._held, self._held_free = conn, True
            return
        if self._held is conn:
            self._held, self._held_free = None, False
        await pool.release(conn)  # shielded by asyncpg from a cancellation of this call

    # -- writes ------------------------------------------------------------------------------

    def _insert_session_sql(self) -> str:
        s = self._s
        return f"""
            WITH new AS (
                INSERT INTO {s}.sessions (session_id, agent_name, model, started_at,
                    updated_at, ended_at, message_count, turn_count, tool_call_count, usage,
                    metadata)
                VALUES ($1, $2, $3, coalesce($4, clock_timestamp()),
                    coalesce($12, clock_timestamp()), $5, cardinality($9::text[]), $6, $7,
                    $8::jsonb, $13::jsonb)
                ON CONFLICT (session_id) DO NOTHING
                RETURNING pk
            ), messages AS (
                INSERT INTO {s}.messages (session_pk, seq, role, body, search_text, search_key)
                SELECT new.pk, m.ord - 1, m.role, m.body, m.search_text, m.search_key
                FROM new, unnest($9::text[], $10::jsonb[], $11::text[], $14::text[])
                    WITH ORDINALITY AS m(role, body, search_text, search_key, ord)
            )
            SELECT pk FROM new
        """

    def _session_params(self, session: Session, updated_at: datetime | None = None) -> list[Any]:
        turns, tool_calls = message_counts(session.messages)
        roles, bodies, texts = _rows(session.messages)
        return [
            session.session_id,
            session.agent_name,
            session.model,
            session.started_at,
            session.ended_at,
            turns,
            tool_calls,
            session.usage.model_dump_json() if session.usage else None,
            roles,
            bodies,
            texts,
            updated_at,
            json.dumps(session.metadata, ensure_ascii=False),
            [fold(text) for text in texts],
        ]

    async def _summary(self, conn: Any, pk: int) -> SessionSummary:
        text = await conn.fetchval(
            f"SELECT {_SUMMARY_JSON} FROM {self._s}.sessions WHERE pk = $1", pk
        )
        return SessionSummary.model_validate_json(text)

    async def create_session(
        self, session: Session, *, want_summary: bool
    ) -> SessionSummary | None:
        params = self._session_params(session)

        async def create(conn: Any) -> SessionSummary | None:
            async with conn.transaction():
                pk = await conn.fetchval(self._insert_session_sql(), *params)
                if pk is None:
                    raise SessionExistsError(session.session_id)
                return await self._summary(conn, pk) if want_summary else None

        result: SessionSummary | None = await self._run(create)
        return result

    async def save_session(self, session: Session, *, want_summary: bool) -> SaveResult:
        params = self._session_params(session)
        s = self._s

        async def save(conn: Any) -> SaveResult:
            async with conn.transaction():
                row = await conn.fetchrow(
                    f"SELECT pk, message_count FROM {s}.sessions WHERE session_id = $1 FOR UPDATE",
                    session.session_id,
                )
                if row is None:
                    pk = await conn.fetchval(self._insert_session_sql(), *params)
                    written: Sequence[ChatMessage] = session.messages
                else:
                    pk, stored = row["pk"], row["message_count"]
                    roles, bodies, texts = params[8], params[9], params[10]
                    keep = stored if await self._is_prefix(conn, pk, stored, bodies) else 0
                    if keep == 0:
                        await conn.execute(f"DELETE FROM {s}.messages WHERE session_pk = $1", pk)
                    written = session.messages[keep:]
                    await self._insert_messages(
                        conn, pk, keep, roles[keep:], bodies[keep:], texts[keep:]
                    )
                    turns, tool_calls = message_counts(session.messages)
                    await conn.execute(
                        f"""UPDATE {s}.sessions SET agent_name = $2, model = $3,
                            started_at = coalesce($4, started_at),
                            updated_at = greatest(updated_at, clock_timestamp()), ended_at = $5,
                            message_count = $6, turn_count = $7, tool_call_count = $8,
                            usage = $9::jsonb, metadata = $10::jsonb WHERE pk = $1""",
                        pk,
                        session.agent_name,
                        session.model,
                        session.started_at,
                        session.ended_at,
                        len(session.messages),
                        turns,
                        tool_calls,
                        params[7],
                        params[12],
                    )
                summary = await self._summary(conn, pk) if want_summary else None
                return SaveResult(summary, written)

        result: SaveResult = await self._run(save)
        return result

    async def _is_prefix(self, conn: Any, pk: int, stored: int, bodies: list[str]) -> bool:
        """Whether the stored messages equal the first ones of ``bodies`` (as JSON values)."""
        if stored == 0 or stored > len(bodies):
            return False
        same = await conn.fetchval(
            f"""SELECT count(*) FROM {self._s}.messages AS m
                JOIN unnest($2::jsonb[]) WITH ORDINALITY AS n(body, ord) ON m.seq = n.ord - 1
                WHERE m.session_pk = $1 AND m.body = n.body""",
            pk,
            bodies[:stored],
        )
        return bool(same == stored)

    async def _insert_messages(
        self, conn: Any, pk: int, first: int, roles: list[str], bodies: list[str], texts: list[str]
    ) -> None:
        if not roles:
            return
        await conn.execute(
            f"""INSERT INTO {self._s}.messages (session_pk, seq, role, body, search_text,
                    search_key)
                SELECT $1, $2 + m.ord - 1, m.role, m.body, m.search_text, m.search_key
                FROM unnest($3::text[], $4::jsonb[], $5::text[], $6::text[])
                    WITH ORDINALITY AS m(role, body, search_text, search_key, ord)""",
            pk,
            first,
            roles,
            bodies,
            texts,
            [fold(text) for text in texts],
        )

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[ChatMessage],
        *,
        usage: Usage | None,
        want_summary: bool,
    ) -> SessionSummary | None:
        s = self._s
        turns, tool_calls = message_counts(messages)
        roles, bodies, texts = _rows(messages)
        # One statement, one round trip: the UPDATE locks the session row, so a concurrent
        # appender waits, then sees the count this one left, and takes the sequence after it.
        sql = f"""
            WITH s AS (
                UPDATE {s}.sessions SET
                    message_count = message_count + cardinality($2::text[]),
                    turn_count = turn_count + $5, tool_call_count = tool_call_count + $6,
                    updated_at = greatest(updated_at, clock_timestamp()),
                    usage = CASE WHEN $7::jsonb IS NULL THEN usage
                                 ELSE {s}.add_usage(usage, $7::jsonb) END
                WHERE session_id = $1
                RETURNING pk, message_count - cardinality($2::text[]) AS first_seq
            ), inserted AS (
                INSERT INTO {s}.messages (session_pk, seq, role, body, search_text, search_key)
                SELECT s.pk, s.first_seq + m.ord - 1, m.role, m.body, m.search_text, m.search_key
                FROM s, unnest($2::text[], $3::jsonb[], $4::text[], $8::text[])
                    WITH ORDINALITY AS m(role, body, search_text, search_key, ord)
            )
            SELECT pk FROM s
        """
        params = [session_id, roles, bodies, texts, turns, tool_calls]
        params.append(usage.model_dump_json() if usage else None)
        params.append([fold(text) for text in texts])

        async def append(conn: Any) -> SessionSummary | None:
            pk = await conn.fetchval(sql, *params)
            if pk is None:
                raise SessionNotFoundError(session_id)
            return await self._summary(conn, pk) if want_summary else None

        result: SessionSummary | None = await self._run(append)
        return result

    async def pop_messages(
        self, session_id: str, n: int, *, want_summary: bool
    ) -> tuple[list[ChatMessage], SessionSummary | None]:
        s = self._s

        async def pop(conn: Any) -> tuple[list[ChatMessage], SessionSummary | None]:
            async with conn.transaction():
                # The row lock makes concurrent appends and pops on this session queue.
                row = await conn.fetchrow(
                    f"SELECT pk, message_count FROM {s}.sessions WHERE session_id = $1 FOR UPDATE",
                    session_id,
                )
                if row is None:
                    return [], None
                pk, first = row["pk"], max(row["message_count"] - n, 0)
                rows = await conn.fetch(
                    f"DELETE FROM {s}.messages WHERE session_pk = $1 AND seq >= $2 "
                    "RETURNING seq, body::text AS b",
                    pk,
                    first,
                )
                if not rows:
                    return [], None
                ordered = sorted(rows, key=lambda r: r["seq"])
                popped = _MESSAGES.validate_json(_array(r["b"] for r in ordered))
                turns, tool_calls = message_counts(popped)
                await conn.execute(
                    f"""UPDATE {s}.sessions SET message_count = $2,
                        turn_count = turn_count - $3, tool_call_count = tool_call_count - $4,
                        updated_at = greatest(updated_at, clock_timestamp()) WHERE pk = $1""",
                    pk,
                    first,
                    turns,
                    tool_calls,
                )
                summary = await self._summary(conn, pk) if want_summary else None
            return popped, summary

        result: tuple[list[ChatMessage], SessionSummary | None] = await self._run(pop)
        return result

    async def delete_session(self, session_id: str) -> bool:
        async def delete(conn: Any) -> bool:
            status = await conn.execute(
                f"DELETE FROM {self._s}.sessions WHERE session_id = $1", session_id
            )
            return bool(status != "DELETE 0")

        result: bool = await self._run(delete)
        return result

    async def prune(
        self, *, max_sessions: int | None, older_than: datetime | None, dry_run: bool
    ) -> list[PruneResult]:
        s = self._s
        rules: list[tuple[Literal["max_sessions", "max_age"], str, list[Any]]] = []
        if older_than is not None:
            rules.append(("max_age", "WHERE updated_at < $1", [older_than]))
        if max_sessions is not None:
            rules.append(
                (
                    "max_sessions",
                    "ORDER BY updated_at DESC, session_id DESC OFFSET $1",
                    [max_sessions],
                )
            )

        async def prune(conn: Any) -> list[PruneResult]:
            results: list[PruneResult] = []
            async with conn.transaction():
                for reason, selection, params in rules:
                    rows = await conn.fetch(
                        f"SELECT {_SUMMARY_JSON} AS j FROM {s}.sessions {selection}", *params
                    )
                    if not rows:
                        continue
                    results.append(
                        PruneResult(reason, _SUMMARIES.validate_json(_array(r["j"] for r in rows)))
                    )
                    if not dry_run:
                        await conn.execute(
                            f"DELETE FROM {s}.sessions WHERE pk IN "
                            f"(SELECT pk FROM {s}.sessions {selection})",
                            *params,
                        )
            return results

        result: list[PruneResult] = await self._run(prune)
        return result

    # -- reads -------------------------------------------------------------------------------

    async def load_session(self, session_id: str) -> Session | None:
        s = self._s

        async def load(conn: Any) -> Session | None:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                row = await conn.fetchrow(
                    f"SELECT pk, {_EXPORT_JSON} AS head FROM {s}.sessions WHERE session_id = $1",
                    session_id,
                )
                if row is None:
                    return None
                bodies = await conn.fetch(
                    f"SELECT body::text AS b FROM {s}.messages WHERE session_pk = $1 ORDER BY seq",
                    row["pk"],
                )
            head: str = row["head"]
            document = head[:-1] + ',"messages":' + _array(r["b"] for r in bodies) + "}"
            return Session.model_validate_json(document)

        result: Session | None = await self._run(load)
        return result

    async def load_messages(self, session_id: str, last: int | None) -> list[ChatMessage]:
        s = self._s

        async def load(conn: Any) -> list[ChatMessage]:
            # Newest first through the (session_pk, seq) index, so only ``last`` rows are read.
            rows = await conn.fetch(
                f"SELECT body::text AS b FROM {s}.messages WHERE session_pk = "
                f"(SELECT pk FROM {s}.sessions WHERE session_id = $1) ORDER BY seq DESC "
                "LIMIT $2",
                session_id,
                last,
            )
            return _MESSAGES.validate_json(_array(r["b"] for r in reversed(rows)))

        result: list[ChatMessage] = await self._run(load)
        return result

    async def get_summary(self, session_id: str) -> SessionSummary | None:
        async def get(conn: Any) -> SessionSummary | None:
            text = await conn.fetchval(
                f"SELECT {_SUMMARY_JSON} FROM {self._s}.sessions WHERE session_id = $1", session_id
            )
            return SessionSummary.model_validate_json(text) if text else None

        result: SessionSummary | None = await self._run(get)
        return result

    async def list_sessions(self, query: ListQuery) -> list[SessionSummary]:
        where: list[str] = []
        params: list[Any] = []

        def param(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        if query.agent_name is not None:
            where.append(f"agent_name = {param(query.agent_name)}")
        if query.model is not None:
            where.append(f"model = {param(query.model)}")
        if query.updated_since is not None:
            where.append(f"updated_at >= {param(_aware(query.updated_since))}")
        if query.updated_until is not None:
            where.append(f"updated_at < {param(_aware(query.updated_until))}")
        if query.after is not None:
            when, sid = query.after
            where.append(f"(updated_at, session_id) < ({param(_aware(when))}, {param(sid)})")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = (
            f"SELECT {_SUMMARY_JSON} AS j FROM {self._s}.sessions {clause} "
            f"ORDER BY updated_at DESC, session_id DESC LIMIT {param(query.limit)} "
            f"OFFSET {param(query.offset)}"
        )

        async def fetch(conn: Any) -> list[SessionSummary]:
            rows = await conn.fetch(sql, *params)
            return _SUMMARIES.validate_json(_array(r["j"] for r in rows))

        result: list[SessionSummary] = await self._run(fetch)
        return result

    async def session_count(self) -> int:
        async def count(conn: Any) -> int:
            return int(await conn.fetchval(f"SELECT count(*) FROM {self._s}.sessions"))

        result: int = await self._run(count)
        return result

    # -- search, stats, export and import ------------------------------------------------------

    async def search(
        self,
        terms: list[Term],
        *,
        agent_name: str | None,
        limit: int,
        highlight: tuple[str, str],
    ) -> list[SearchHit]:
        params: list[Any] = []

        def param(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        parts = []
        for term in (Term(fold(t.text), t.phrase, t.prefix) for t in terms):
            if term.prefix and not term.phrase:
                parts.append(
                    f"to_tsquery('simple', quote_literal(lower({param(term.text)})) || ':*')"
                )
            elif term.phrase:
                parts.append(f"phraseto_tsquery('simple', {param(term.text)})")
            else:
                parts.append(f"plainto_tsquery('simple', {param(term.text)})")
        options = f'StartSel="{highlight[0]}", StopSel="{highlight[1]}", MinWords=8, MaxWords=24'
        agent = f"AND s.agent_name = {param(agent_name)}" if agent_name is not None else ""
        sql = f"""
            WITH q AS (SELECT {" && ".join(parts)} AS query)
            SELECT json_build_object(
                'session_id', s.session_id, 'seq', m.seq, 'role', m.role,
                'snippet', ts_headline('simple', m.search_text, q.query, {param(options)}),
                'rank', ts_rank_cd(m.search, q.query),
                'agent_name', s.agent_name, 'model', s.model)::text AS j
            FROM q, {self._s}.messages AS m JOIN {self._s}.sessions AS s ON s.pk = m.session_pk
            WHERE m.search @@ q.query {agent}
            ORDER BY ts_rank_cd(m.search, q.query) DESC, s.session_id, m.seq
            LIMIT {param(limit)}
        """

        async def fetch(conn: Any) -> list[SearchHit]:
            rows = await conn.fetch(sql, *params)
            return _HITS.validate_json(_array(r["j"] for r in rows))

        result: list[SearchHit] = await self._run(fetch)
        return result

    async def stats(self) -> HistoryStats:
        s = self._s

        async def stats(conn: Any) -> HistoryStats:
            totals = await conn.fetchrow(
                f"""SELECT count(*) AS sessions, coalesce(sum(message_count), 0) AS messages,
                    coalesce(sum(turn_count), 0) AS turns,
                    coalesce(sum(tool_call_count), 0) AS tool_calls,
                    coalesce(sum((usage ->> 'input_tokens')::numeric), 0) AS input_tokens,
                    coalesce(sum((usage ->> 'output_tokens')::numeric), 0) AS output_tokens,
                    coalesce(sum((usage ->> 'total_tokens')::numeric), 0) AS total_tokens,
                    min(updated_at) AS oldest_update, max(updated_at) AS newest_update,
                    pg_total_relation_size('{self.schema}.sessions'::regclass)
                      + pg_total_relation_size('{self.schema}.messages'::regclass) AS size_bytes
                    FROM {s}.sessions"""
            )
            by_agent = await conn.fetch(
                f"SELECT agent_name, count(*) AS n FROM {s}.sessions GROUP BY agent_name "
                "ORDER BY n DESC, agent_name"
            )
            by_model = await conn.fetch(
                f"SELECT model, count(*) AS n FROM {s}.sessions GROUP BY model "
                "ORDER BY n DESC, model"
            )
            data = {key: totals[key] for key in totals.keys()}  # noqa: SIM118 - asyncpg Record
            for key in ("input_tokens", "output_tokens", "total_tokens"):
                data[key] = int(data[key])
            data["sessions_by_agent"] = {r["agent_name"]: r["n"] for r in by_agent}
            data["sessions_by_model"] = {r["model"]: r["n"] for r in by_model}
            return HistoryStats.model_validate(data)

        result: HistoryStats = await self._run(stats)
        return result

    async def export_batch(self, cursor: int, limit: int) -> ExportBatch:
        s = self._s

        async def export(conn: Any) -> ExportBatch:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                heads = await conn.fetch(
                    f"SELECT pk, {_EXPORT_JSON} AS head FROM {s}.sessions WHERE pk > $1 "
                    "ORDER BY pk LIMIT $2",
                    cursor,
                    limit,
                )
                if not heads:
                    return ExportBatch([], None)
                rows = await conn.fetch(
                    f"SELECT session_pk, body::text AS b FROM {s}.messages "
                    "WHERE session_pk BETWEEN $1 AND $2 ORDER BY session_pk, seq",
                    heads[0]["pk"],
                    heads[-1]["pk"],
                )
            bodies: dict[int, list[str]] = {h["pk"]: [] for h in heads}
            for r in rows:
                bodies[r["session_pk"]].append(r["b"])
            lines = [h["head"][:-1] + ',"messages":' + _array(bodies[h["pk"]]) + "}" for h in heads]
            return ExportBatch(lines, heads[-1]["pk"])

        result: ExportBatch = await self._run(export)
        return result

    async def import_sessions(
        self, sessions: Sequence[ExportedSession], *, want_summary: bool
    ) -> list[ImportOutcome]:
        s = self._s
        prepared = [
            (session, self._session_params(session, session.updated_at)) for session in sessions
        ]

        async def import_(conn: Any) -> list[ImportOutcome]:
            outcomes: list[ImportOutcome] = []
            async with conn.transaction():
                for session, params in prepared:
                    row = await conn.fetchrow(
                        f"SELECT pk, message_count, {_EXPORT_JSON} AS head FROM {s}.sessions "
                        "WHERE session_id = $1 FOR UPDATE",
                        session.session_id,
                    )
                    outcome: Literal["added", "replaced", "unchanged"] = "added"
                    if row is not None:
                        stored = ExportedSession.model_validate_json(
                            row["head"][:-1] + ',"messages":[]}'
                        )
                        bodies = params[9]
                        if (
                            stored == session.model_copy(update={"messages": []})
                            and row["message_count"] == len(bodies)
                            and (
                                not bodies
                                or await self._is_prefix(conn, row["pk"], len(bodies), bodies)
                            )
                        ):
                            outcomes.append(
                                ImportOutcome(session.session_id, "unchanged", None, [])
                            )
                            continue
                        await conn.execute(f"DELETE FROM {s}.sessions WHERE pk = $1", row["pk"])
                        outcome = "replaced"
                    pk = await conn.fetchval(self._insert_session_sql(), *params)
                    summary = await self._summary(conn, pk) if want_summary else None
                    outcomes.append(
                        ImportOutcome(session.session_id, outcome, summary, session.messages)
                    )
            return outcomes

        result: list[ImportOutcome] = await self._run(import_)
        return result


async def _keep_session_state(conn: Any) -> None:
    """The pool's reset between uses, which by default costs a round trip (RESET ALL, UNLISTEN,
    unlock advisory locks...). Our calls leave nothing to reset: no SET, no LISTEN, and only
    transaction-scoped advisory locks, which end with their transaction."""


def _array(items: Any) -> str:
    return "[" + ",".join(items) + "]"


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
