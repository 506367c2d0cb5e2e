"""Writes on SQLite: each function is one write transaction (or a savepoint of a group's, see
``connection.atomic``), run on the worker thread.

Messages arrive as :class:`~session_history._backends.shared.MessageRow` (body JSON made before
the hand-off), so the worker thread spends its time in SQLite only. Writes do not touch the search
index, which catches up in bulk (``index.py``); a write that deletes messages first keeps what the
index needs to forget them (:func:`~.index.unindex`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from ..._codec import MESSAGES, json_array, messages_array
from ..._errors import SessionExistsError, SessionNotFoundError
from ..._models import ChatMessage, Session, SessionSummary, Usage, message_counts
from ..base import AppendResult, PopResult, PruneResult, SaveResult
from ..shared import MessageRow, PruneRule, format_ts, message_rows, now_ts
from .connection import atomic, snapshot
from .index import forgotten, rebuild_later, unindex
from .reads import summaries, summary

__all__ = [
    "Bodies",
    "append",
    "bodies_of",
    "create",
    "delete",
    "insert_session",
    "pop",
    "prune",
    "register",
    "save",
    "stored_bodies",
]

INSERT_SESSION = """
    INSERT INTO sessions (session_id, agent_name, model, started_at, updated_at, ended_at,
        message_count, turn_count, tool_call_count, usage, metadata)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
INSERT_MESSAGE = "INSERT INTO messages (session_pk, seq, role, body) VALUES (?, ?, ?, ?)"
# One statement finds the session, takes its next sequence numbers and updates its summary: the
# first appended message takes the count as it was (RETURNING gives the row as updated).
APPEND = """
    UPDATE sessions SET message_count = message_count + ?1, turn_count = turn_count + ?2,
        tool_call_count = tool_call_count + ?3, updated_at = max(updated_at, ?4),
        usage = CASE WHEN ?5 IS NULL THEN usage ELSE add_usage(usage, ?5) END
    WHERE session_id = ?6
    RETURNING pk, message_count - ?1
"""
UPDATE_AFTER_SAVE = """
    UPDATE sessions SET agent_name = ?, model = ?, started_at = COALESCE(?, started_at),
        updated_at = max(updated_at, ?), ended_at = ?, message_count = ?, turn_count = ?,
        tool_call_count = ?, usage = ?, metadata = ?
    WHERE pk = ?
"""
UPDATE_AFTER_POP = """
    UPDATE sessions SET message_count = ?, turn_count = turn_count - ?,
        tool_call_count = tool_call_count - ?, updated_at = max(updated_at, ?)
    WHERE pk = ?
"""


def add_usage(stored: str | None, added: str) -> str:
    """``add_usage(usage, ?)`` in SQL: token usage added as :meth:`Usage.__add__` adds it."""
    if stored is None:
        return added
    return (Usage.model_validate_json(stored) + Usage.model_validate_json(added)).model_dump_json()


def register(conn: sqlite3.Connection) -> None:
    """Give the connection the SQL functions the writes use."""
    conn.create_function("add_usage", 2, add_usage, deterministic=True)


# Many messages in one statement: the bodies as one JSON array, which json_each splits again
# (its ``value`` is each element's text as given, and a body is pydantic's compact JSON, so
# each is stored exactly as made). One statement instead of one per row: each row of an
# executemany hands the GIL back and forth with the thread preparing the next batch.
INSERT_MESSAGES = """
    INSERT INTO messages (session_pk, seq, role, body)
    SELECT ?1, ?2 + key, value ->> '$.role', value FROM json_each(?3) ORDER BY key
"""
Bodies = Sequence[MessageRow] | str
"""Messages as rows (a few: one ``INSERT`` each), or as one JSON array of their bodies (many,
made by ``_codec.messages_array``: one statement for all)."""


def bodies_of(messages: Sequence[ChatMessage]) -> Bodies:
    """How to hand ``messages`` over: rows for a few, one array for many."""
    return messages_array(messages) if len(messages) >= 8 else message_rows(messages)


def _insert_messages(
    conn: sqlite3.Connection, session_pk: int, first_seq: int, rows: Bodies
) -> None:
    """Insert messages in order from sequence number ``first_seq``, in the caller's
    transaction (their ids are SQLite's: the largest plus one)."""
    if isinstance(rows, str):
        conn.execute(INSERT_MESSAGES, (session_pk, first_seq, rows))
        return
    conn.executemany(
        INSERT_MESSAGE,
        [(session_pk, first_seq + i, row.role, row.body) for i, row in enumerate(rows)],
    )


def _ts(value: datetime | None) -> str | None:
    return format_ts(value) if value is not None else None


def _columns(session: Session, started_at: str | None, updated_at: str) -> tuple[object, ...]:
    """The session row's columns from ``agent_name`` to ``metadata``, as INSERT_SESSION and
    UPDATE_AFTER_SAVE take them."""
    turns, tool_calls = message_counts(session.messages)
    return (
        session.agent_name,
        session.model,
        started_at,
        updated_at,
        _ts(session.ended_at),
        len(session.messages),
        turns,
        tool_calls,
        session.usage.model_dump_json() if session.usage else None,
        json.dumps(session.metadata, ensure_ascii=False),
    )


def insert_session(
    conn: sqlite3.Connection,
    session: Session,
    rows: Bodies,
    updated_at: datetime | None = None,
) -> int:
    """Insert a session row and its messages; returns the row's key."""
    now = now_ts()
    columns = _columns(session, _ts(session.started_at) or now, _ts(updated_at) or now)
    cursor = conn.execute(INSERT_SESSION, (session.session_id, *columns))
    pk = cursor.lastrowid
    assert pk is not None
    _insert_messages(conn, pk, 0, rows)
    return pk


def create(
    conn: sqlite3.Connection, session: Session, rows: Bodies, want_summary: bool
) -> SessionSummary | None:
    with atomic(conn):
        if conn.execute(
            "SELECT 1 FROM sessions WHERE session_id = ?", (session.session_id,)
        ).fetchone():
            raise SessionExistsError(session.session_id)
        pk = insert_session(conn, session, rows)
        return summary(conn, pk) if want_summary else None


def stored_bodies(conn: sqlite3.Connection, pk: int) -> list[str]:
    return [body for (body,) in conn.execute(BODIES, (pk,))]


BODIES = "SELECT body FROM messages WHERE session_pk = ? ORDER BY seq"


def _is_stored_prefix(
    conn: sqlite3.Connection, pk: int, stored_count: int, rows: Sequence[MessageRow]
) -> bool:
    """Whether the stored messages are the first ones of ``rows``."""
    if stored_count == 0 or stored_count > len(rows):
        return False
    # Compare the last stored message first: when a caller rewrote history this is where it
    # usually differs, and it costs one row.
    (last,) = conn.execute(
        "SELECT body FROM messages WHERE session_pk = ? AND seq = ?", (pk, stored_count - 1)
    ).fetchone()
    if last != rows[stored_count - 1].body:
        return False
    return stored_bodies(conn, pk) == [row.body for row in rows[:stored_count]]


def save(
    conn: sqlite3.Connection, session: Session, rows: Sequence[MessageRow], want_summary: bool
) -> SaveResult:
    with atomic(conn):
        row = conn.execute(
            "SELECT pk, message_count FROM sessions WHERE session_id = ?", (session.session_id,)
        ).fetchone()
        if row is None:
            pk = insert_session(conn, session, rows)
            return SaveResult(summary(conn, pk) if want_summary else None, session.messages)
        pk, stored_count = row
        keep = stored_count if _is_stored_prefix(conn, pk, stored_count, rows) else 0
        if keep == 0:
            unindex(conn, "session_pk = ?", (pk,))
            conn.execute("DELETE FROM messages WHERE session_pk = ?", (pk,))
            forgotten(conn)
        _insert_messages(conn, pk, keep, rows[keep:])
        columns = _columns(session, _ts(session.started_at), now_ts())
        conn.execute(UPDATE_AFTER_SAVE, (*columns, pk))
        return SaveResult(summary(conn, pk) if want_summary else None, session.messages[keep:])


def append(
    conn: sqlite3.Connection,
    session_id: str,
    rows: Sequence[MessageRow],
    turns: int,
    tool_calls: int,
    usage: str | None,
    create: tuple[Session, Sequence[MessageRow]] | None,
    want_summary: bool,
) -> AppendResult:
    with atomic(conn):
        found = conn.execute(
            APPEND, (len(rows), turns, tool_calls, now_ts(), usage, session_id)
        ).fetchone()
        if found is None:
            if create is None:
                raise SessionNotFoundError(session_id)
            pk = insert_session(conn, *create)
            return AppendResult(summary(conn, pk) if want_summary else None, True)
        pk, first_seq = found
        _insert_messages(conn, pk, first_seq, rows)
        return AppendResult(summary(conn, pk) if want_summary else None, False)


def pop(conn: sqlite3.Connection, session_id: str, n: int, want_summary: bool) -> PopResult:
    with atomic(conn):
        row = conn.execute(
            "SELECT pk, message_count FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        if row is None:
            return PopResult([], None)
        pk, count = row
        first = max(count - n, 0)
        bodies = conn.execute(
            "SELECT body FROM messages WHERE session_pk = ? AND seq >= ? ORDER BY seq", (pk, first)
        ).fetchall()
        if not bodies:
            return PopResult([], None)
        popped = MESSAGES.validate_json(json_array(body for (body,) in bodies))
        unindex(conn, "session_pk = ? AND seq >= ?", (pk, first))
        conn.execute("DELETE FROM messages WHERE session_pk = ? AND seq >= ?", (pk, first))
        forgotten(conn)
        turns, tool_calls = message_counts(popped)
        conn.execute(UPDATE_AFTER_POP, (first, turns, tool_calls, now_ts(), pk))
        return PopResult(popped, summary(conn, pk) if want_summary else None)


def delete(conn: sqlite3.Connection, session_id: str) -> bool:
    with atomic(conn):
        unindex(conn, "session_pk = (SELECT pk FROM sessions WHERE session_id = ?)", (session_id,))
        deleted = conn.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
        forgotten(conn)
        return deleted.rowcount > 0


def prune(conn: sqlite3.Connection, rules: Sequence[PruneRule], dry_run: bool) -> list[PruneResult]:
    """Remove what ``rules`` select; with ``dry_run`` only read (so a read-only store can)."""
    results: list[PruneResult] = []
    with snapshot(conn) if dry_run else atomic(conn):
        for rule in rules:
            rows = conn.execute(
                f"SELECT summary FROM sessions {rule.selection}", rule.params
            ).fetchall()
            if not rows:
                continue
            results.append(PruneResult(rule.reason, summaries(text for (text,) in rows)))
            if not dry_run:
                chosen = f"SELECT pk FROM sessions {rule.selection}"
                if _most_of_the_index(conn, results[-1].pruned):
                    rebuild_later(conn)
                else:
                    unindex(conn, f"session_pk IN ({chosen})", tuple(rule.params))
                conn.execute(f"DELETE FROM sessions WHERE pk IN ({chosen})", rule.params)
                forgotten(conn)
    return results


def _most_of_the_index(conn: sqlite3.Connection, going: Sequence[SessionSummary]) -> bool:
    """Whether deleting ``going`` removes most messages: then the index is rebuilt from what
    stays rather than told of each removal."""
    (total,) = conn.execute("SELECT coalesce(sum(message_count), 0) FROM sessions").fetchone()
    return 2 * sum(summary.message_count for summary in going) > int(total)
