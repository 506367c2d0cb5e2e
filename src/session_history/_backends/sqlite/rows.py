"""A session's row as the tree's writes read it (:class:`Row`), and the small reads every write
shares: the session for a caller, the lines of its tree, its branch tips, an entry's id, whether
an append may extend the head's line in place.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ..._errors import SessionNotFoundError
from ..base import WriteContext
from ..shared import (
    check_revision,
    format_ts,
    now_ts,
)
from ..tree import HeadRow, Line, Point, Range, path
from .reads import LINES_OF_TREE

__all__ = [
    "MOVE_HEAD",
    "ROW",
    "Row",
    "entry_at",
    "growable",
    "locate",
    "locate_for_write",
    "path_of",
    "root_of",
    "some_line",
    "tips_of",
    "tree_of",
    "ts",
]

# The head moved (a pop, a branch, a new line): where it is now, and what the session counts.
MOVE_HEAD = """
    UPDATE sessions SET message_count = ?, turn_count = ?, tool_call_count = ?,
        head_line = ?, grow_line = ?, head_entry = ?, updated_at = max(updated_at, ?),
        revision = revision + 1, expires_at = coalesce(?, expires_at)
    WHERE pk = ?
"""


ROW = (
    "SELECT pk, message_count, turn_count, tool_call_count, head_line, grow_line, head_entry, "
    "revision, updated_at, scope, expires_at FROM sessions WHERE session_id = ?"
)


def ts(value: datetime | None) -> str | None:
    return format_ts(value) if value is not None else None


Row = HeadRow[str]
"""A session row as SQLite gives it (times as text)."""


def locate(conn: sqlite3.Connection, session_id: str, scope: str | None = None) -> Row | None:
    """The session's row, if it is there for the caller: not expired, and of ``scope``."""
    found = conn.execute(ROW, (session_id,)).fetchone()
    if found is None:
        return None
    row = Row(*found)
    if row.missing_to(scope, now_ts()):
        return None
    return row


def locate_for_write(conn: sqlite3.Connection, session_id: str, context: WriteContext) -> Row:
    row = locate(conn, session_id, context.scope)
    if row is None:
        raise SessionNotFoundError(session_id, scope=context.scope)
    check_revision(session_id, context.expected_revision, row.revision)
    return row


def tree_of(conn: sqlite3.Connection, line: int) -> dict[int, Line]:
    """Every line of the tree ``line`` belongs to."""
    return {
        pk: Line(pk, owner, parent, start)
        for pk, owner, parent, start in conn.execute(LINES_OF_TREE, (line,))
    }


def tips_of(conn: sqlite3.Connection, session_pk: int) -> list[Point]:
    return [
        Point(line, seq)
        for line, seq in conn.execute(
            "SELECT line_pk, seq FROM branches WHERE session_pk = ?", (session_pk,)
        )
    ]


def some_line(conn: sqlite3.Connection, row: Row) -> int | None:
    """A line of the session's tree: its head's, else a branch's (None: it has no entries)."""
    if row.head_line is not None:
        return row.head_line
    found = conn.execute(
        "SELECT line_pk FROM branches WHERE session_pk = ? LIMIT 1", (row.pk,)
    ).fetchone()
    return int(found[0]) if found else None


def path_of(conn: sqlite3.Connection, head: Point | None) -> list[Range]:
    if head is None:
        return []
    return path(tree_of(conn, head.line), head)


def root_of(conn: sqlite3.Connection, line: int) -> int:
    (root,) = conn.execute("SELECT root FROM lines WHERE pk = ?", (line,)).fetchone()
    return int(root)


def entry_at(conn: sqlite3.Connection, point: Point) -> str:
    (entry,) = conn.execute(
        "SELECT entry_id FROM messages WHERE line_pk = ? AND seq = ?", (point.line, point.seq)
    ).fetchone()
    return str(entry)


def growable(conn: sqlite3.Connection, session_pk: int, head: Point | None) -> int | None:
    """The line an append may extend in place: the head's, when the session owns it and the
    head is its last entry."""
    if head is None:
        return None
    owner = conn.execute("SELECT session_pk FROM lines WHERE pk = ?", (head.line,)).fetchone()
    if owner is None or owner[0] != session_pk:
        return None
    deeper = conn.execute(
        "SELECT 1 FROM messages WHERE line_pk = ? AND seq > ? LIMIT 1", (head.line, head.seq)
    ).fetchone()
    return None if deeper else head.line
