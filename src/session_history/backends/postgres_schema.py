"""The PostgreSQL schema, as ordered migrations (the same ideas as ``sqlite_schema``).

Everything lives in one PostgreSQL schema (``session_history`` unless the URL says
``?schema=...``): ``sessions`` with the summary columns, ``messages`` with one row per message
(``(session_pk, seq)`` is the order; ``body`` the message as JSONB; ``search_text`` what
:func:`~session_history.search.search_text` makes of it, shown in snippets; ``search`` a generated
``tsvector`` of that text folded to unaccented lower case, as SQLite's tokenizer folds it, since
PostgreSQL's ``unaccent`` needs an extension only a superuser can install), and ``migrations``.
Session ids sort byte-wise (``COLLATE "C"``), as on SQLite, so listing order is the same.
"""

from __future__ import annotations

from typing import Any

from ..migrations import Migrations

__all__ = ["migrations"]

# A step receives (connection, schema name quoted as an identifier) and is awaited.
migrations: Migrations[Any] = Migrations()


@migrations
async def m001_initial(args: tuple[Any, str]) -> None:
    conn, s = args
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
