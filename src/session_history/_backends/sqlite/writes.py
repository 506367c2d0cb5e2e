"""Writes on SQLite: each function is one write transaction (or a savepoint of a group's, see
``connection.atomic``), run on the worker thread.

Messages arrive as :class:`~session_history._backends.shared.MessageRow` (body JSON made before
the hand-off), so the worker thread spends its time in SQLite only. Writes do not touch the search
index, which catches up in bulk (``index.py``); a write that deletes messages first keeps what the
index needs to forget them (:func:`~.index.unindex`). The tree's rules (paths, reachability) are
``tree.py``'s; this module reads the rows they need and writes what they decide.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime

from pydantic import JsonValue

from ..._codec import messages_array
from ..._errors import InvalidQueryError, SessionExistsError, SessionNotFoundError
from ..._models import ChatMessage, Session, SessionSummary, Usage, message_counts
from ..base import AppendResult, SaveResult, WriteContext
from ..shared import (
    MessageRow,
    check_revision,
    common_prefix,
    identified,
    message_rows,
    now_ts,
)
from ..tree import Point, contains
from .connection import atomic
from .reads import read_ranges, summary
from .removal import cut, delete_row
from .rows import MOVE_HEAD, Row, locate, locate_for_write, path_of, root_of, some_line, ts

__all__ = [
    "Bodies",
    "add_usage",
    "append",
    "bodies_of",
    "create",
    "insert_messages",
    "insert_session",
    "new_line",
    "register",
    "save",
    "set_state",
    "stored_bodies",
]

INSERT_SESSION = """
    INSERT INTO sessions (session_id, agent_name, model, started_at, updated_at, ended_at,
        message_count, turn_count, tool_call_count, usage, metadata, scope, expires_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
INSERT_MESSAGE = (
    "INSERT INTO messages (session_pk, line_pk, seq, entry_id, role, body) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
# The common append, in one statement: the session extends its line in place (``grow_line``),
# takes its next depths and updates its summary; the first appended message takes the count as
# it was (RETURNING gives the row as updated). A session that must start a line first (new, or
# just branched), or a write that expects a revision it does not have, matches no row here and
# takes the slower way (``_append_slowly``).
APPEND = """
    UPDATE sessions SET message_count = message_count + ?1, turn_count = turn_count + ?2,
        tool_call_count = tool_call_count + ?3, updated_at = max(updated_at, ?4),
        usage = CASE WHEN ?5 IS NULL THEN usage ELSE add_usage(usage, ?5) END,
        revision = revision + 1, head_line = iif(?1 > 0, grow_line, head_line),
        head_entry = coalesce(?7, head_entry),
        expires_at = coalesce(?8, expires_at)
    WHERE session_id = ?6 AND grow_line IS NOT NULL AND (?9 IS NULL OR revision = ?9)
        AND (expires_at IS NULL OR expires_at > ?4) AND (?10 IS NULL OR scope = ?10)
    RETURNING pk, message_count - ?1, grow_line
"""
UPDATE_AFTER_SAVE = """
    UPDATE sessions SET agent_name = ?, model = ?, started_at = COALESCE(?, started_at),
        updated_at = max(updated_at, ?), ended_at = ?, message_count = ?, turn_count = ?,
        tool_call_count = ?, usage = ?, metadata = ?, scope = ?, expires_at = ?,
        revision = revision + 1
    WHERE pk = ?
"""
NEW_ROOT_LINE = """
    INSERT INTO lines (pk, session_pk, root, parent_line, start)
    SELECT next, ?1, coalesce(?2, next), NULL, 0
    FROM (SELECT coalesce(max(pk), 0) + 1 AS next FROM lines)
"""
NEW_LINE = """
    INSERT INTO lines (session_pk, root, parent_line, start)
    SELECT ?1, root, pk, ?2 FROM lines WHERE pk = ?3
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
    INSERT INTO messages (session_pk, line_pk, seq, entry_id, role, body)
    SELECT ?1, ?2, ?3 + key, value ->> '$.entry_id', value ->> '$.role', value
    FROM json_each(?4) ORDER BY key
"""
Bodies = Sequence[MessageRow] | str
"""Messages as rows (a few: one ``INSERT`` each), or as one JSON array of their bodies (many,
made by ``_codec.messages_array``: one statement for all)."""


def bodies_of(messages: Sequence[ChatMessage]) -> Bodies:
    """How to hand ``messages`` over: rows for a few, one array for many."""
    return messages_array(messages) if len(messages) >= 8 else message_rows(messages)


def _last_id(rows: Bodies) -> str | None:
    if isinstance(rows, str):
        items = json.loads(rows)
        return str(items[-1]["entry_id"]) if items else None
    return rows[-1].entry_id if rows else None


def insert_messages(
    conn: sqlite3.Connection, session_pk: int, line: int, first_seq: int, rows: Bodies
) -> None:
    """Insert messages in order on ``line`` from depth ``first_seq``, in the caller's
    transaction (their ids are SQLite's: the largest plus one)."""
    try:
        if isinstance(rows, str):
            conn.execute(INSERT_MESSAGES, (session_pk, line, first_seq, rows))
            return
        conn.executemany(
            INSERT_MESSAGE,
            [
                (session_pk, line, first_seq + i, row.entry_id, row.role, row.body)
                for i, row in enumerate(rows)
            ],
        )
    except sqlite3.IntegrityError as exc:
        if "entry_id" not in str(exc):
            raise
        raise InvalidQueryError(
            "an entry id of these messages is already stored in this session on another "
            "branch (or twice among them); give each message an id of its own, or none"
        ) from exc


def _columns(session: Session, started_at: str | None, updated_at: str) -> tuple[object, ...]:
    """The session row's columns from ``agent_name`` to ``expires_at``, as INSERT_SESSION and
    UPDATE_AFTER_SAVE take them."""
    turns, tool_calls = message_counts(session.messages)
    return (
        session.agent_name,
        session.model,
        started_at,
        updated_at,
        ts(session.ended_at),
        len(session.messages),
        turns,
        tool_calls,
        session.usage.model_dump_json() if session.usage else None,
        json.dumps(session.metadata, ensure_ascii=False),
        session.scope,
        ts(session.expires_at),
    )


def new_line(
    conn: sqlite3.Connection, session_pk: int, parent: int | None, start: int, root: int | None
) -> int:
    """A new line of ``session_pk`` from depth ``start``, after ``parent`` (None: a first line,
    in tree ``root``, or a tree of its own)."""
    if parent is None:
        cursor = conn.execute(NEW_ROOT_LINE, (session_pk, root))
    else:
        cursor = conn.execute(NEW_LINE, (session_pk, start, parent))
    line = cursor.lastrowid
    assert line is not None
    return line


def insert_session(
    conn: sqlite3.Connection,
    session: Session,
    rows: Bodies,
    updated_at: datetime | None = None,
) -> int:
    """Insert a session row, its messages (a line of their own) and its state; returns the
    row's key."""
    now = now_ts()
    columns = _columns(session, ts(session.started_at) or now, ts(updated_at) or now)
    cursor = conn.execute(INSERT_SESSION, (session.session_id, *columns))
    pk = cursor.lastrowid
    assert pk is not None
    # A session has its first line from the start, empty or not: its first append then extends
    # it in place (the two-statement append), as every later one.
    line = new_line(conn, pk, None, 0, None)
    if session.messages:
        insert_messages(conn, pk, line, 0, rows)
    conn.execute(
        "UPDATE sessions SET head_line = ?1, grow_line = ?2, head_entry = ?3 WHERE pk = ?4",
        (line if session.messages else None, line, _last_id(rows), pk),
    )
    if session.state:
        _write_state(conn, pk, session.state)
    return pk


def _write_state(conn: sqlite3.Connection, pk: int, state: Mapping[str, JsonValue]) -> None:
    """Merge ``state`` into the session's: a key given None is removed."""
    gone = [(pk, key) for key, value in state.items() if value is None]
    kept = [
        (pk, key, json.dumps(value, ensure_ascii=False, allow_nan=False))
        for key, value in state.items()
        if value is not None
    ]
    if gone:
        conn.executemany("DELETE FROM session_state WHERE session_pk = ? AND key = ?", gone)
    if kept:
        conn.executemany(
            "INSERT INTO session_state (session_pk, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (session_pk, key) DO UPDATE SET value = excluded.value",
            kept,
        )


def create(
    conn: sqlite3.Connection, session: Session, rows: Bodies, want_summary: bool
) -> SessionSummary | None:
    with atomic(conn):
        if locate(conn, session.session_id) is not None:
            raise SessionExistsError(session.session_id)
        delete_row(conn, session.session_id)  # an expired one, gone for every reader
        pk = insert_session(conn, session, rows)
        return summary(conn, pk) if want_summary else None


def stored_bodies(conn: sqlite3.Connection, pk: int) -> list[str]:
    """The bodies of the session's current branch, in order."""
    row = conn.execute(
        "SELECT head_line, message_count FROM sessions WHERE pk = ?", (pk,)
    ).fetchone()
    if row is None or row[0] is None:
        return []
    return [body for (body,) in read_ranges(conn, path_of(conn, Point(row[0], row[1] - 1)))]


def save(
    conn: sqlite3.Connection,
    session: Session,
    given: Sequence[ChatMessage],
    ids: Sequence[str],
    want_summary: bool,
) -> SaveResult:
    """Store ``session``: the messages it shares with the stored current branch from the first
    stay (with their ids), the rest of that branch is popped, and the others are appended.
    ``given`` are the caller's messages, ``ids`` the entry id each would get if new."""
    with atomic(conn):
        row = locate(conn, session.session_id)
        if row is None:
            delete_row(conn, session.session_id)
            with_ids = identified(given, ids)
            pk = insert_session(conn, session, message_rows(with_ids))
            return SaveResult(summary(conn, pk) if want_summary else None, with_ids)
        ranges = path_of(conn, row.head)
        stored = [body for (body,) in read_ranges(conn, ranges)]
        keep = common_prefix(stored, given)
        kept = row
        if keep < row.count:
            kept = cut(conn, row, ranges, keep)
        new = message_rows(identified(given[keep:], ids[keep:]))
        if new:
            line = kept.grow_line
            if line is None:
                root_line = some_line(conn, kept)
                root = root_of(conn, root_line) if root_line is not None else None
                line = new_line(conn, row.pk, kept.head_line, keep, root)
            insert_messages(conn, row.pk, line, keep, new)
            conn.execute(
                "UPDATE sessions SET head_line = ?1, grow_line = ?1, head_entry = ?2 WHERE pk = ?3",
                (line, new[-1].entry_id, row.pk),
            )
        columns = _columns(session, ts(session.started_at), now_ts())
        conn.execute(UPDATE_AFTER_SAVE, (*columns, row.pk))
        if session.state:
            _write_state(conn, row.pk, session.state)
        written = [
            m.model_copy(update={"entry_id": r.entry_id})
            for m, r in zip(session.messages[keep:], new, strict=True)
        ]
        return SaveResult(summary(conn, row.pk) if want_summary else None, written)


def _already_stored(conn: sqlite3.Connection, row: Row, ids: Sequence[str]) -> bool:
    """Whether an append of entries ``ids`` was made already (a retry whose first try committed):
    True when all are on the session's path; an error when only some are."""
    marks = ",".join("?" * len(ids))
    found = conn.execute(
        f"SELECT entry_id, line_pk, seq FROM messages WHERE entry_id IN ({marks})", tuple(ids)
    ).fetchall()
    if not found or row.head is None:
        return False
    ranges = path_of(conn, row.head)
    on_path = {entry for entry, line, seq in found if contains(ranges, Point(line, seq))}
    if not on_path:
        return False
    if on_path >= set(ids):
        return True
    raise InvalidQueryError(
        f"{len(on_path)} of these {len(ids)} messages are stored in this session already and "
        "the others are not: an append stores all of its messages or none, so this is not a "
        "retry of one; give the new messages ids of their own"
    )


def append(
    conn: sqlite3.Connection,
    session_id: str,
    rows: Bodies,
    ids: Sequence[str],
    turns: int,
    tool_calls: int,
    usage: str | None,
    create: tuple[Session, Bodies] | None,
    context: WriteContext,
    state: Mapping[str, JsonValue] | None,
    retry_check: bool,
    want_summary: bool,
) -> AppendResult:
    with atomic(conn):
        if retry_check:
            row = locate(conn, session_id, context.scope)
            if row is not None and _already_stored(conn, row, ids):
                return AppendResult(summary(conn, row.pk) if want_summary else None, False, False)
        now = now_ts()
        found = conn.execute(
            APPEND,
            (
                len(ids),
                turns,
                tool_calls,
                now,
                usage,
                session_id,
                ids[-1] if ids else None,
                ts(context.expires_at),
                context.expected_revision,
                context.scope,
            ),
        ).fetchone()
        if found is not None:
            pk, first_seq, line = found
            insert_messages(conn, pk, line, first_seq, rows)
        else:
            row = locate(conn, session_id)
            if row is not None and context.scope is not None and row.scope != context.scope:
                # Another owner's session: missing to this caller, and its id is taken.
                if create is not None:
                    raise SessionExistsError(session_id)
                raise SessionNotFoundError(session_id, scope=context.scope)
            if row is None:
                if create is None:
                    raise SessionNotFoundError(session_id, scope=context.scope)
                delete_row(conn, session_id)
                pk = insert_session(conn, *create)
                return AppendResult(summary(conn, pk) if want_summary else None, True)
            check_revision(session_id, context.expected_revision, row.revision)
            pk = row.pk
            _append_onnew_line(conn, row, rows, ids, turns, tool_calls, usage, now, context)
        if state:
            _write_state(conn, pk, state)
        return AppendResult(summary(conn, pk) if want_summary else None, False)


def _append_onnew_line(
    conn: sqlite3.Connection,
    row: Row,
    rows: Bodies,
    ids: Sequence[str],
    turns: int,
    tool_calls: int,
    usage: str | None,
    now: str,
    context: WriteContext,
) -> None:
    """The append of a session that cannot extend a line in place: one is started after the
    head (a first line when the session is empty). An append of no messages (usage only)
    needs none, and changes the rest as any append does."""
    conn.execute(
        "UPDATE sessions SET usage = CASE WHEN ?1 IS NULL THEN usage ELSE add_usage(usage, ?1) "
        "END WHERE pk = ?2",
        (usage, row.pk),
    )
    if not ids:
        conn.execute(
            "UPDATE sessions SET updated_at = max(updated_at, ?), revision = revision + 1, "
            "expires_at = coalesce(?, expires_at) WHERE pk = ?",
            (now, ts(context.expires_at), row.pk),
        )
        return
    if row.head_line is None:
        some = some_line(conn, row)
        line = new_line(conn, row.pk, None, 0, root_of(conn, some) if some is not None else None)
    else:
        line = new_line(conn, row.pk, row.head_line, row.count, None)
    insert_messages(conn, row.pk, line, row.count, rows)
    conn.execute(
        MOVE_HEAD,
        (
            row.count + len(ids),
            row.turns + turns,
            row.tool_calls + tool_calls,
            line,
            line,
            ids[-1],
            now,
            ts(context.expires_at),
            row.pk,
        ),
    )


def set_state(
    conn: sqlite3.Connection,
    session_id: str,
    state: Mapping[str, JsonValue],
    context: WriteContext,
) -> SessionSummary:
    with atomic(conn):
        row = locate_for_write(conn, session_id, context)
        _write_state(conn, row.pk, state)
        conn.execute(
            "UPDATE sessions SET revision = revision + 1, updated_at = max(updated_at, ?), "
            "expires_at = coalesce(?, expires_at) WHERE pk = ?",
            (now_ts(), ts(context.expires_at), row.pk),
        )
        return summary(conn, row.pk)
