"""The PostgreSQL schema, as ordered migrations (the same ideas as the SQLite schema).

Everything lives in one PostgreSQL schema (``session_history`` unless the URL says
``?schema=...``): ``sessions`` with the summary columns, ``messages`` with one row per message
(``(session_pk, seq)`` is the order; ``body`` the message as JSON text, exactly as written;
``search_text`` what :func:`~session_history._search.search_text` makes of it, shown in
snippets; ``search`` a generated ``tsvector`` of that text folded to unaccented lower case, as
SQLite's tokenizer folds it, since PostgreSQL's ``unaccent`` needs an extension only a superuser
can install), and ``migrations``. Session ids sort byte-wise (``COLLATE "C"``), as on SQLite, so
listing order is the same.

JSON is kept as ``json``, not ``jsonb`` (``m002``): ``jsonb`` normalises numbers (``1e308`` comes
back as a 309-digit integer, ``-0.0`` as ``0``), while ``json`` keeps the text, so every number
comes back with its type and sign; it also keeps ``\u0000``, which ``jsonb`` refuses.

Migrations run under a transaction-scoped advisory lock, so servers starting at once apply each
step exactly once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._errors import NotADatabaseError
from ..._migrations import Migration, Migrations
from ..._search import search_key
from ..shared import migrate

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from .connection import Conn

    Step = tuple[Conn, str]
    """What a step receives: a connection, and the schema's name quoted as an identifier."""

__all__ = ["migrations", "upgrade"]

migrations: Migrations[Step, Awaitable[None]] = Migrations()


@migrations
async def m001_initial(step: Step) -> None:
    conn, s = step
    await conn.execute(
        f"""
        CREATE TABLE {s}.sessions (
            pk bigserial PRIMARY KEY,
            session_id text COLLATE "C" NOT NULL UNIQUE,
            agent_name text NOT NULL,
            model text NOT NULL,
            started_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            ended_at timestamptz,
            message_count integer NOT NULL DEFAULT 0,
            turn_count integer NOT NULL DEFAULT 0,
            tool_call_count integer NOT NULL DEFAULT 0,
            usage jsonb,
            metadata jsonb NOT NULL DEFAULT '{{}}'
        );
        CREATE INDEX sessions_by_updated ON {s}.sessions (updated_at DESC, session_id DESC);
        CREATE INDEX sessions_by_agent
            ON {s}.sessions (agent_name, updated_at DESC, session_id DESC);
        CREATE TABLE {s}.messages (
            id bigserial PRIMARY KEY,
            session_pk bigint NOT NULL REFERENCES {s}.sessions (pk) ON DELETE CASCADE,
            seq integer NOT NULL,
            role text NOT NULL,
            body jsonb NOT NULL,
            search_text text NOT NULL,
            search_key text NOT NULL,
            search tsvector GENERATED ALWAYS AS (to_tsvector('simple', search_key)) STORED,
            UNIQUE (session_pk, seq)
        );
        CREATE INDEX messages_search ON {s}.messages USING gin (search);
        """
    )
    # Adds token usage the way Usage.__add__ does: numbers summed, objects merged key by key,
    # anything else replaced. In SQL so that an append stays one statement.
    await conn.execute(
        f"""
        CREATE FUNCTION {s}.add_usage(a jsonb, b jsonb) RETURNS jsonb
        LANGUAGE plpgsql IMMUTABLE AS $fn$
        DECLARE
            result jsonb := coalesce(a, '{{}}'::jsonb);
            k text;
            av jsonb;
            bv jsonb;
        BEGIN
            IF b IS NULL THEN
                RETURN a;
            END IF;
            FOR k, bv IN SELECT * FROM jsonb_each(b) LOOP
                av := result -> k;
                IF jsonb_typeof(av) = 'number' AND jsonb_typeof(bv) = 'number' THEN
                    result := jsonb_set(
                        result,
                        ARRAY[k],
                        to_jsonb((av #>> '{{}}')::numeric + (bv #>> '{{}}')::numeric)
                    );
                ELSIF jsonb_typeof(av) = 'object' AND jsonb_typeof(bv) = 'object' THEN
                    result := jsonb_set(result, ARRAY[k], {s}.add_usage(av, bv));
                ELSIF jsonb_typeof(bv) <> 'null' THEN
                    result := jsonb_set(result, ARRAY[k], bv);
                END IF;
            END LOOP;
            RETURN result;
        END
        $fn$;
        """
    )


@migrations
async def m002_exact_json(step: Step) -> None:
    """JSON as ``json`` (its exact text) instead of ``jsonb``, and token usage added on it."""
    conn, s = step
    await conn.execute(
        f"""
        ALTER TABLE {s}.messages ALTER COLUMN body TYPE json USING body::json;
        ALTER TABLE {s}.sessions
            ALTER COLUMN usage TYPE json USING usage::json,
            ALTER COLUMN metadata DROP DEFAULT,
            ALTER COLUMN metadata TYPE json USING metadata::json,
            ALTER COLUMN metadata SET DEFAULT '{{}}';
        DROP FUNCTION {s}.add_usage(jsonb, jsonb);
        """
    )
    # Adds token usage the way Usage.__add__ does, on the JSON text: numbers summed (integers
    # as integers, any float as a float, as Python adds them), objects merged key by key,
    # anything else replaced by the newer value unless that is null. In SQL so that an append
    # stays one statement.
    await conn.execute(
        f"""
        CREATE FUNCTION {s}.add_usage_value(a json, b json) RETURNS json
        LANGUAGE plpgsql IMMUTABLE AS $fn$
        DECLARE
            total text;
        BEGIN
            IF b IS NULL OR json_typeof(b) = 'null' THEN
                RETURN a;
            ELSIF a IS NULL THEN
                RETURN b;
            ELSIF json_typeof(a) = 'number' AND json_typeof(b) = 'number' THEN
                IF a::text ~ '^-?[0-9]+$' AND b::text ~ '^-?[0-9]+$' THEN
                    RETURN ((a::text)::numeric + (b::text)::numeric)::text::json;
                END IF;
                total := ((a::text)::float8 + (b::text)::float8)::text;
                IF total IN ('Infinity', '-Infinity', 'NaN') THEN
                    RETURN 'null'::json;  -- as pydantic writes a float that JSON cannot hold
                ELSIF total !~ '[.eE]' THEN
                    total := total || '.0';  -- a float stays a float
                END IF;
                RETURN total::json;
            ELSIF json_typeof(a) = 'object' AND json_typeof(b) = 'object' THEN
                RETURN {s}.add_usage(a, b);
            END IF;
            RETURN b;
        END
        $fn$;
        CREATE FUNCTION {s}.add_usage(a json, b json) RETURNS json
        LANGUAGE sql IMMUTABLE AS $fn$
            SELECT CASE
                WHEN b IS NULL THEN a
                WHEN a IS NULL THEN b
                ELSE (
                    SELECT coalesce(json_object_agg(k, v ORDER BY ord), '{{}}'::json)
                    FROM (
                        SELECT x.key AS k, {s}.add_usage_value(x.value, b -> x.key) AS v,
                            x.ord AS ord
                        FROM json_each(a) WITH ORDINALITY AS x(key, value, ord)
                        UNION ALL
                        SELECT y.key, y.value, 1000000 + y.ord
                        FROM json_each(b) WITH ORDINALITY AS y(key, value, ord)
                        WHERE a -> y.key IS NULL AND json_typeof(y.value) <> 'null'
                    ) AS merged
                )
            END
        $fn$;
        """
    )


@migrations
async def m003_search_tokens(step: Step) -> None:
    """Index the tokens that SQLite's tokenizer reads (``_search.search_key``) instead of the
    folded text, which PostgreSQL's parser split differently (``content:x`` was one token)."""
    conn, s = step
    # The cursor lives in the step's transaction (upgrade's apply), which a cursor needs.
    cursor = conn.cursor(f"SELECT id, search_text FROM {s}.messages")
    batch: list[tuple[int, str]] = []
    async for row in cursor:
        batch.append((row["id"], search_key(row["search_text"])))
        if len(batch) >= 1000:
            await _set_keys(conn, s, batch)
            batch = []
    await _set_keys(conn, s, batch)


async def _set_keys(conn: Conn, s: str, batch: list[tuple[int, str]]) -> None:
    if batch:
        await conn.executemany(f"UPDATE {s}.messages SET search_key = $2 WHERE id = $1", batch)


# An entry id for each existing message, in UUIDv7's layout (RFC 9562, as ``tree.new_entry_id``
# makes them): the migration's time in milliseconds and a 12-bit counter, counted up in message
# order (borrowing the next millisecond every 4,096 messages, as new_entry_id does), then the
# variant and 62 random bits (taken from a v4 UUID, whose 17th hex digit is the variant already).
# So the ids of one session sort in its order. $1 is the time in milliseconds.
_ENTRY_IDS = """
    WITH numbered AS (
        SELECT id, ($1::bigint << 12) + row_number() OVER (ORDER BY id) - 1 AS t FROM {s}.messages
    ), made AS (
        SELECT id, (lpad(to_hex(t >> 12), 12, '0') || '7' || lpad(to_hex(t & 4095), 3, '0')
            || right(replace(gen_random_uuid()::text, '-', ''), 16))::uuid::text AS entry_id
        FROM numbered
    )
    UPDATE {s}.messages AS m SET entry_id = made.entry_id, line_pk = m.session_pk,
        -- The body holds its entry id as its last field, as pydantic writes it: spliced into
        -- the text (json keeps it exactly; jsonb would rewrite the numbers).
        body = (regexp_replace(m.body::text, '\\s*\\}\\s*$', '')
            || ',"entry_id":' || to_json(made.entry_id)::text || '}')::json
    FROM made WHERE m.id = made.id
"""


@migrations
async def m004_tree(step: Step) -> None:
    """Conversations as trees (see ``_backends/tree.py``), as SQLite's ``m005_tree``: every
    message an entry with an id on a line, sessions with a head, branches, forks, a scope, an
    expiry, a revision and state.

    Each session becomes a one-line tree whose line's key is the session's; each message gets a
    UUIDv7 (in its body too). ``messages.session_pk`` becomes the line owner's key without a
    foreign key of its own: messages go with their line, which goes with its session.
    """
    import time

    conn, s = step
    await conn.execute(
        f"""
        ALTER TABLE {s}.sessions
            ADD COLUMN scope text,
            ADD COLUMN expires_at timestamptz,
            ADD COLUMN revision integer NOT NULL DEFAULT 1,
            ADD COLUMN head_line bigint,
            ADD COLUMN grow_line bigint,
            ADD COLUMN head_entry text,
            ADD COLUMN forked_from text COLLATE "C",
            ADD COLUMN forked_at text;
        CREATE TABLE {s}.lines (
            pk bigserial PRIMARY KEY,
            session_pk bigint NOT NULL REFERENCES {s}.sessions (pk) ON DELETE CASCADE,
            root bigint NOT NULL,
            parent_line bigint REFERENCES {s}.lines (pk),
            start integer NOT NULL
        );
        INSERT INTO {s}.lines (pk, session_pk, root, parent_line, start)
            SELECT pk, pk, pk, NULL, 0 FROM {s}.sessions WHERE message_count > 0;
        UPDATE {s}.sessions SET head_line = pk, grow_line = pk WHERE message_count > 0;
        ALTER TABLE {s}.messages ADD COLUMN line_pk bigint, ADD COLUMN entry_id text;
        """
    )
    await conn.execute(
        "SELECT setval(pg_get_serial_sequence($1, 'pk'), "
        f"(SELECT coalesce(max(pk), 0) + 1 FROM {s}.sessions), false)",
        f"{s}.lines",
    )
    await conn.execute(_ENTRY_IDS.replace("{s}", s), time.time_ns() // 1_000_000)
    # m001's UNIQUE (session_pk, seq) and foreign key on session_pk, found by what they hold
    # rather than by the names PostgreSQL gave them.
    old = await conn.fetch(
        "SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass "
        "AND contype IN ('u', 'f') AND (SELECT attnum FROM pg_attribute "
        "WHERE attrelid = $1::regclass AND attname = 'session_pk') = ANY (conkey)",
        f"{s}.messages",
    )
    drops = ", ".join(f'DROP CONSTRAINT "{r["conname"]}"' for r in old)
    await conn.execute(
        f"""
        ALTER TABLE {s}.messages {drops + "," if drops else ""}
            ALTER COLUMN line_pk SET NOT NULL,
            ALTER COLUMN entry_id SET NOT NULL,
            ADD FOREIGN KEY (line_pk) REFERENCES {s}.lines (pk) ON DELETE CASCADE,
            ADD UNIQUE (line_pk, seq),
            ADD UNIQUE (entry_id, session_pk);
        UPDATE {s}.sessions AS s SET head_entry = m.entry_id FROM {s}.messages AS m
            WHERE m.line_pk = s.head_line AND m.seq = s.message_count - 1;
        CREATE INDEX sessions_by_scope ON {s}.sessions (scope, updated_at DESC, session_id DESC)
            WHERE scope IS NOT NULL;
        CREATE INDEX sessions_by_head ON {s}.sessions (head_line) WHERE head_line IS NOT NULL;
        CREATE INDEX sessions_by_expiry ON {s}.sessions (expires_at)
            WHERE expires_at IS NOT NULL;
        CREATE INDEX sessions_by_source ON {s}.sessions (forked_from)
            WHERE forked_from IS NOT NULL;
        CREATE INDEX lines_by_root ON {s}.lines (root);
        CREATE INDEX lines_by_session ON {s}.lines (session_pk);
        -- Deleting a line checks that no line continues it: without this, a scan per line.
        CREATE INDEX lines_by_parent ON {s}.lines (parent_line) WHERE parent_line IS NOT NULL;
        CREATE TABLE {s}.branches (
            session_pk bigint NOT NULL REFERENCES {s}.sessions (pk) ON DELETE CASCADE,
            line_pk bigint NOT NULL,
            seq integer NOT NULL,
            entry_id text NOT NULL,
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (session_pk, line_pk, seq)
        );
        CREATE INDEX branches_by_line ON {s}.branches (line_pk);
        CREATE TABLE {s}.session_state (
            session_pk bigint NOT NULL REFERENCES {s}.sessions (pk) ON DELETE CASCADE,
            key text COLLATE "C" NOT NULL,
            value json NOT NULL,
            PRIMARY KEY (session_pk, key)
        );
        """
    )


# What m001 creates in the schema (tables, their sequences, indexes and constraints), besides
# ``migrations``: a schema holding one of these without our record of migrations is another
# program's, and m001 would fail on it, or worse, write into it.
OWN_NAMES = [
    "sessions",
    "sessions_pk_seq",
    "sessions_pkey",
    "sessions_session_id_key",
    "sessions_by_updated",
    "sessions_by_agent",
    "messages",
    "messages_id_seq",
    "messages_pkey",
    "messages_session_pk_seq_key",
    "messages_search",
]

KINDS = {
    "r": "a table",
    "p": "a table",
    "v": "a view",
    "m": "a view",
    "i": "an index",
    "S": "a sequence",
}

FOUND = """
    SELECT c.relname, c.relkind::text AS relkind
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relname = ANY($2::text[])
    ORDER BY c.relname
"""
MIGRATION_COLUMNS = """
    SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
    FROM pg_attribute
    WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped
"""


async def _applied(conn: Conn, schema: str, quoted: str, location: str) -> set[str]:
    """The migrations recorded in ``schema``; refuses a schema that holds another program's
    tables under our names. Only reads, so another program's data is untouched."""
    found = {r["relname"]: r["relkind"] for r in await conn.fetch(FOUND, schema, ["migrations"])}
    if "migrations" not in found:
        theirs = [
            f"{KINDS.get(r['relkind'], 'a relation')} {r['relname']!r}"
            for r in await conn.fetch(FOUND, schema, OWN_NAMES)
        ]
        if theirs:
            shown = ", ".join(theirs[:3]) + (", ..." if len(theirs) > 3 else "")
            raise _foreign(location, schema, f"{shown}, and no record of our migrations")
        return set()
    columns = await conn.fetchval(MIGRATION_COLUMNS, f"{quoted}.migrations")
    if found["migrations"] not in ("r", "p") or columns != (
        "name text, applied_at timestamp with time zone"
    ):
        raise _foreign(location, schema, f"a 'migrations' table that is not ours ({columns})")
    applied = {r["name"] for r in await conn.fetch(f"SELECT name FROM {quoted}.migrations")}
    if migrations.names[0] not in applied:
        # Every schema of ours records its first step with the table itself (one transaction).
        shown = ", ".join(sorted(applied)[:3]) + (", ..." if len(applied) > 3 else "")
        raise _foreign(
            location,
            schema,
            f"a 'migrations' table without session-history's first step, {migrations.names[0]} "
            f"({'recording: ' + shown if applied else 'empty'})",
        )
    return applied


def _foreign(location: str, schema: str, what: str) -> NotADatabaseError:
    return NotADatabaseError(
        f"{location}: the PostgreSQL schema {schema!r} belongs to another program (it holds "
        f"{what}); nothing was changed. Give session-history a schema of its own with "
        "?schema=NAME.",
        path=location,
    )


async def upgrade(
    conn: Conn, schema: str, quoted: str, location: str, *, read_only: bool = False
) -> None:
    """Apply the outstanding migrations to ``schema`` (refusing one newer than this code; when
    read-only, refusing one that is not up to date, and creating nothing)."""
    import asyncpg

    applied = await _applied(conn, schema, quoted, location)

    async def apply(step: Migration[Step, Awaitable[None]]) -> None:
        async with conn.transaction():
            # One server at a time; the others wait here, then find it applied.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"session_history:{schema}"
            )
            # Only when missing: CREATE SCHEMA IF NOT EXISTS asks for the right to create
            # schemas even when there is nothing to create, which a role given a schema of its
            # own (and no more) lacks.
            if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
                await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {quoted}.migrations "
                "(name text PRIMARY KEY, applied_at timestamptz NOT NULL)"
            )
            if await conn.fetchval(f"SELECT 1 FROM {quoted}.migrations WHERE name = $1", step.name):
                return
            await step.apply((conn, quoted))
            await conn.execute(
                f"INSERT INTO {quoted}.migrations (name, applied_at) VALUES ($1, now())", step.name
            )

    await migrate(
        migrations,
        applied,
        apply,
        location=location,
        errors=(asyncpg.PostgresError,),
        read_only=read_only,
    )
