"""Reads on SQLite: sessions, summaries, listing, the tail of a session.

Nothing here builds a model row by row: SQLite hands back JSON text (the ``summary`` column is
kept by SQLite itself, see ``schema.m001_initial``), which is spliced into one document and
validated by pydantic-core in one call.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from pydantic import JsonValue

from ..._codec import MESSAGES, METADATA, SUMMARIES, json_array, with_messages
from ..._models import ChatMessage, Session, SessionSummary
from .connection import snapshot

__all__ = [
    "count",
    "get_summary",
    "load",
    "load_messages",
    "load_metadata",
    "read_session",
    "select_summaries",
    "summaries",
    "summary",
]

SESSION_JSON = """json_object(
    'session_id', session_id, 'agent_name', agent_name, 'model', model,
    'started_at', started_at, 'ended_at', ended_at,
    'usage', json(usage), 'metadata', json(metadata))"""

# Newest first through the (session_pk, seq) index, so a tail reads only the rows it returns.
TAIL = """
    SELECT body FROM messages
    WHERE session_pk = (SELECT pk FROM sessions WHERE session_id = ?)
    ORDER BY seq DESC LIMIT ?
"""
# The same, one metadata value of each message as JSON text (``?1`` its path), nothing built.
METADATA_TAIL = """
    SELECT body -> ?1 FROM messages
    WHERE session_pk = (SELECT pk FROM sessions WHERE session_id = ?2)
    ORDER BY seq DESC LIMIT ?3
"""


def summaries(texts: Iterable[str]) -> list[SessionSummary]:
    return SUMMARIES.validate_json(json_array(texts))


def summary(conn: sqlite3.Connection, pk: int) -> SessionSummary:
    (text,) = conn.execute("SELECT summary FROM sessions WHERE pk = ?", (pk,)).fetchone()
    return SessionSummary.model_validate_json(text)


def get_summary(conn: sqlite3.Connection, session_id: str) -> SessionSummary | None:
    row = conn.execute(
        "SELECT summary FROM sessions WHERE session_id = ?", (session_id,)
    ).fetchone()
    return SessionSummary.model_validate_json(row[0]) if row else None


def load(conn: sqlite3.Connection, session_id: str) -> Session | None:
    with snapshot(conn):
        return read_session(conn, session_id)


def read_session(conn: sqlite3.Connection, session_id: str) -> Session | None:
    """The session with its messages, read in the caller's transaction."""
    row = conn.execute(
        f"SELECT pk, {SESSION_JSON} FROM sessions WHERE session_id = ?", (session_id,)
    ).fetchone()
    if row is None:
        return None
    pk, head = row
    bodies = conn.execute(
        "SELECT body FROM messages WHERE session_pk = ? ORDER BY seq", (pk,)
    ).fetchall()
    return Session.model_validate_json(with_messages(head, (body for (body,) in bodies)))


def load_messages(conn: sqlite3.Connection, session_id: str, last: int | None) -> list[ChatMessage]:
    rows = conn.execute(TAIL, (session_id, -1 if last is None else last)).fetchall()
    return MESSAGES.validate_json(json_array(body for (body,) in reversed(rows)))


def load_metadata(
    conn: sqlite3.Connection, session_id: str, key: str, last: int | None
) -> list[JsonValue | None]:
    rows = conn.execute(
        METADATA_TAIL,
        (f'$.metadata."{key}"', session_id, -1 if last is None else last),
    ).fetchall()
    return METADATA.validate_json(json_array(text or "null" for (text,) in reversed(rows)))


def select_summaries(
    conn: sqlite3.Connection, sql: str, params: Sequence[object]
) -> list[SessionSummary]:
    return summaries(text for (text,) in conn.execute(sql, params))


def count(conn: sqlite3.Connection) -> int:
    (n,) = conn.execute("SELECT count(*) FROM sessions").fetchone()
    return int(n)
