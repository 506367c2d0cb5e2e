"""Reads on PostgreSQL: sessions, summaries, listing, the tail of a session.

As on SQLite, the server hands back JSON text (a summary is built by concatenation, a session's
head by ``json_build_object``), spliced into one document that pydantic-core validates in one call.
Tables are named plainly: each connection's ``search_path`` is the store's schema.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pydantic import JsonValue

from ..._codec import MESSAGES, METADATA, SUMMARIES, json_array, with_messages
from ..._models import ChatMessage, Session, SessionSummary

if TYPE_CHECKING:
    from .connection import Conn

__all__ = [
    "EXPORT_JSON",
    "SUMMARY_JSON",
    "count",
    "get_summary",
    "load",
    "load_messages",
    "load_metadata",
    "select_summaries",
    "summaries",
    "summary",
]

# A summary as JSON text, by concatenation: json_build_object takes 22 of the 29 ms that
# PostgreSQL spends on 5,000 summaries, concatenation 17 (to_json quotes strings and writes
# times as ISO 8601, as json_build_object does).
SUMMARY_JSON = """('{"id":' || to_json(session_id) || ',"agent_name":' || to_json(agent_name)
    || ',"model":' || to_json(model) || ',"message_count":' || message_count
    || ',"turn_count":' || turn_count || ',"tool_call_count":' || tool_call_count
    || ',"started_at":' || to_json(started_at) || ',"updated_at":' || to_json(updated_at)
    || ',"ended_at":' || coalesce(to_json(ended_at)::text, 'null')
    || ',"usage":' || coalesce(usage::text, 'null') || ',"metadata":' || metadata::text || '}')"""

EXPORT_JSON = """json_build_object(
    'session_id', session_id, 'agent_name', agent_name, 'model', model,
    'started_at', started_at, 'ended_at', ended_at, 'updated_at', updated_at,
    'usage', usage, 'metadata', metadata)::text"""

BODIES = "SELECT body::text AS b FROM messages WHERE session_pk = $1 ORDER BY seq"

# A session's head and bodies in one statement, so in one snapshot (no transaction to open).
LOAD = f"""
    SELECT {EXPORT_JSON} AS head, ARRAY(
        SELECT body::text FROM messages WHERE session_pk = sessions.pk ORDER BY seq
    ) AS bodies
    FROM sessions WHERE session_id = $1
"""

# Newest first through the (session_pk, seq) index, so a tail reads only the rows it returns.
TAIL = """
    SELECT body::text AS b FROM messages
    WHERE session_pk = (SELECT pk FROM sessions WHERE session_id = $1)
    ORDER BY seq DESC LIMIT $2
"""
# The same, one metadata value of each message as JSON text ($3 its key), nothing built.
METADATA_TAIL = """
    SELECT (body -> 'metadata' -> $3)::text AS b FROM messages
    WHERE session_pk = (SELECT pk FROM sessions WHERE session_id = $1)
    ORDER BY seq DESC LIMIT $2
"""


def summaries(texts: Iterable[str]) -> list[SessionSummary]:
    return SUMMARIES.validate_json(json_array(texts))


async def summary(conn: Conn, pk: int) -> SessionSummary:
    text = await conn.fetchval(f"SELECT {SUMMARY_JSON} FROM sessions WHERE pk = $1", pk)
    return SessionSummary.model_validate_json(text)


async def get_summary(conn: Conn, session_id: str) -> SessionSummary | None:
    text = await conn.fetchval(
        f"SELECT {SUMMARY_JSON} FROM sessions WHERE session_id = $1", session_id
    )
    return SessionSummary.model_validate_json(text) if text else None


async def stored_bodies(conn: Conn, pk: int) -> list[str]:
    return [r["b"] for r in await conn.fetch(BODIES, pk)]


async def load(conn: Conn, session_id: str) -> Session | None:
    row = await conn.fetchrow(LOAD, session_id)
    if row is None:
        return None
    return Session.model_validate_json(with_messages(row["head"], row["bodies"]))


async def load_messages(conn: Conn, session_id: str, last: int | None) -> list[ChatMessage]:
    rows = await conn.fetch(TAIL, session_id, last)
    return MESSAGES.validate_json(json_array(r["b"] for r in reversed(rows)))


async def load_metadata(
    conn: Conn, session_id: str, key: str, last: int | None
) -> list[JsonValue | None]:
    rows = await conn.fetch(
        METADATA_TAIL,
        session_id,
        last,
        key,
    )
    return METADATA.validate_json(json_array(r["b"] or "null" for r in reversed(rows)))


async def select_summaries(conn: Conn, sql: str, params: Sequence[object]) -> list[SessionSummary]:
    return summaries(r[0] for r in await conn.fetch(sql, *params))


async def count(conn: Conn) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM sessions"))
