"""Reads on SQLite: sessions, summaries, listing, the tail of a session, branches, state.

Nothing here builds a model row by row: SQLite hands back JSON text (the ``summary`` column is
kept by SQLite itself, see ``schema.m001_initial``), which is spliced into one document and
validated by pydantic-core in one call. A session's messages are the path to its head
(``tree.py``): for a session that never branched, one range of one line, read in order through
the ``(line_pk, seq)`` index as the flat list was.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

from pydantic import JsonValue

from ..._codec import MESSAGES, METADATA, SUMMARIES, json_array
from ..._models import Branch, ChatMessage, Session, SessionSummary
from ..shared import now_ts
from ..tree import Line, Point, Range, path, tail
from ..windows import PathRead, size
from .connection import snapshot

__all__ = [
    "LINES_OF_TREE",
    "count",
    "get_summary",
    "list_branches",
    "load",
    "load_messages",
    "load_metadata",
    "load_state",
    "read_path",
    "read_ranges",
    "read_session",
    "read_window",
    "select_summaries",
    "state_of",
    "summaries",
    "summary",
]

SESSION_JSON = """json_object(
    'session_id', session_id, 'agent_name', agent_name, 'model', model,
    'started_at', started_at, 'ended_at', ended_at,
    'usage', json(usage), 'metadata', json(metadata), 'scope', scope, 'expires_at', expires_at)"""

LINES_OF_TREE = (
    "SELECT pk, session_pk, parent_line, start FROM lines "
    "WHERE root = (SELECT root FROM lines WHERE pk = ?)"
)
# A session's head and the line it is on, for a caller of ``?2`` scope (NULL: any), unexpired
# at ``?3``; and, when the head is on a first line (a session that never branched), ``{what}``
# of its last ``?4`` entries (NULL: all) as one JSON array's items, so such a read is this one
# statement. (A subquery with ORDER BY is not flattened into an aggregate: group_concat takes
# its rows in that order.)
HEAD = """
    SELECT s.pk, s.head_line, s.message_count, l.parent_line, l.start,
        CASE WHEN l.parent_line IS NULL THEN (
            SELECT group_concat(w, ',') FROM (
                SELECT {what} AS w FROM messages WHERE line_pk = s.head_line
                    AND seq >= max(l.start, s.message_count - coalesce(?4, s.message_count))
                    AND seq < s.message_count
                ORDER BY seq)
        ) END {extra}
    FROM sessions AS s LEFT JOIN lines AS l ON l.pk = s.head_line
    WHERE s.session_id = ?1 AND (s.expires_at IS NULL OR s.expires_at > ?3)
        AND (?2 IS NULL OR s.scope = ?2)
"""


def summaries(texts: Iterable[str]) -> list[SessionSummary]:
    return SUMMARIES.validate_json(json_array(texts))


def summary(conn: sqlite3.Connection, pk: int) -> SessionSummary:
    (text,) = conn.execute("SELECT summary FROM sessions WHERE pk = ?", (pk,)).fetchone()
    return SessionSummary.model_validate_json(text)


def get_summary(
    conn: sqlite3.Connection, session_id: str, scope: str | None
) -> SessionSummary | None:
    row = conn.execute(
        "SELECT summary FROM sessions WHERE session_id = ?1 AND (?2 IS NULL OR scope = ?2) "
        "AND (expires_at IS NULL OR expires_at > ?3)",
        (session_id, scope, now_ts()),
    ).fetchone()
    return SessionSummary.model_validate_json(row[0]) if row else None


def read_ranges(
    conn: sqlite3.Connection, ranges: Sequence[Range], what: str = "body"
) -> list[tuple[str]]:
    """``what`` of each entry of ``ranges``, in path order: one statement, an index range scan
    per line (so a single range reads as the flat list did)."""
    if not ranges:
        return []
    if len(ranges) == 1:
        r = ranges[0]
        return conn.execute(
            f"SELECT {what} FROM messages WHERE line_pk = ? AND seq BETWEEN ? AND ? ORDER BY seq",
            (r.line, r.lo, r.hi),
        ).fetchall()
    union = " UNION ALL ".join(
        f"SELECT seq, {what} AS w FROM messages WHERE line_pk = ? AND seq BETWEEN ? AND ?"
        for _ in ranges
    )
    params = tuple(v for r in ranges for v in (r.line, r.lo, r.hi))
    return conn.execute(f"SELECT w FROM ({union}) ORDER BY seq", params).fetchall()


def _ranges(
    conn: sqlite3.Connection, head_line: int | None, count: int, parent: int | None, start: int
) -> list[Range]:
    """The path to the head: without asking for the tree when the head's line is a first one."""
    if head_line is None:
        return []
    if parent is None:
        return [Range(head_line, start, count - 1)]
    lines = {
        pk: Line(pk, owner, up, first)
        for pk, owner, up, first in conn.execute(LINES_OF_TREE, (head_line,))
    }
    return path(lines, Point(head_line, count - 1))


def read_path(conn: sqlite3.Connection, session_id: str, scope: str | None) -> PathRead | None:
    with snapshot(conn):
        row = conn.execute(
            "SELECT s.head_line, s.message_count, l.parent_line, l.start, s.head_entry "
            "FROM sessions AS s LEFT JOIN lines AS l ON l.pk = s.head_line "
            "WHERE s.session_id = ?1 AND (?2 IS NULL OR s.scope = ?2) "
            "AND (s.expires_at IS NULL OR s.expires_at > ?3)",
            (session_id, scope, now_ts()),
        ).fetchone()
        if row is None:
            return None
        head_line, count, parent, start, tip = row
        return PathRead(_ranges(conn, head_line, count, parent, start or 0), tip)


def read_window(
    conn: sqlite3.Connection, ranges: Sequence[Range], tip: str | None
) -> list[str] | None:
    with snapshot(conn):
        bodies = [body for (body,) in read_ranges(conn, ranges)]
        if tip is None:
            return bodies
        end = ranges[-1]
        found = conn.execute(
            "SELECT entry_id FROM messages WHERE line_pk = ? AND seq = ?", (end.line, end.hi)
        ).fetchone()
    if found is None or found[0] != tip or len(bodies) != size(ranges):
        return None
    return bodies


def load(conn: sqlite3.Connection, session_id: str, scope: str | None) -> Session | None:
    with snapshot(conn):
        return read_session(conn, session_id, scope)


def state_of(conn: sqlite3.Connection, pk: int) -> str:
    """The session's state as one JSON object."""
    (text,) = conn.execute(
        "SELECT coalesce(json_group_object(key, json(value)), '{}') FROM session_state "
        "WHERE session_pk = ?",
        (pk,),
    ).fetchone()
    return str(text)


def _path_items(
    conn: sqlite3.Connection,
    session_id: str,
    scope: str | None,
    last: int | None,
    what: str = "body",
    extra: str = "",
) -> tuple[tuple[object, ...], str] | None:
    """The session's row (its ``extra`` columns after the first six) and ``what`` of the last
    ``last`` entries of its current path, as one JSON array: one statement for a session that
    never branched, two otherwise."""
    head = HEAD.format(what=what, extra=extra)
    row = conn.execute(head, (session_id, scope, now_ts(), last)).fetchone()
    if row is None:
        return None
    _, head_line, count, parent, start, items = row[:6]
    if head_line is not None and parent is not None:
        ranges = tail(_ranges(conn, head_line, count, parent, start), last)
        items = ",".join(w for (w,) in read_ranges(conn, ranges, what))
    return row, f"[{items or ''}]"


def read_session(
    conn: sqlite3.Connection, session_id: str, scope: str | None = None
) -> Session | None:
    """The session with its messages, read in the caller's transaction."""
    found = _path_items(conn, session_id, scope, None, extra=f", {SESSION_JSON}")
    if found is None:
        return None
    row, bodies = found
    head = str(row[6])
    head = head[:-1] + ',"state":' + state_of(conn, int(str(row[0]))) + ',"messages":' + bodies
    return Session.model_validate_json(head + "}")


def load_messages(
    conn: sqlite3.Connection, session_id: str, last: int | None, scope: str | None
) -> list[ChatMessage]:
    with snapshot(conn):
        found = _path_items(conn, session_id, scope, last)
    return MESSAGES.validate_json(found[1]) if found else []


def load_metadata(
    conn: sqlite3.Connection, session_id: str, key: str, last: int | None, scope: str | None
) -> list[JsonValue | None]:
    # The key is checked by the facade (letters, digits, '_' and '-'), so it may be quoted in.
    what = f"coalesce(body -> '$.metadata.\"{key}\"', 'null')"
    with snapshot(conn):
        found = _path_items(conn, session_id, scope, last, what)
    return METADATA.validate_json(found[1]) if found else []


def load_state(
    conn: sqlite3.Connection, session_id: str, scope: str | None
) -> dict[str, JsonValue] | None:
    with snapshot(conn):
        row = conn.execute(
            "SELECT pk FROM sessions WHERE session_id = ?1 AND (?2 IS NULL OR scope = ?2) "
            "AND (expires_at IS NULL OR expires_at > ?3)",
            (session_id, scope, now_ts()),
        ).fetchone()
        if row is None:
            return None
        state: dict[str, JsonValue] = json.loads(state_of(conn, row[0]))
    return state


def list_branches(
    conn: sqlite3.Connection, session_id: str, scope: str | None
) -> list[Branch] | None:
    with snapshot(conn):
        row = conn.execute(
            "SELECT pk, head_entry, message_count, updated_at FROM sessions WHERE session_id = ?1 "
            "AND (?2 IS NULL OR scope = ?2) AND (expires_at IS NULL OR expires_at > ?3)",
            (session_id, scope, now_ts()),
        ).fetchone()
        if row is None:
            return None
        pk, head, count, updated_at = row
        others = conn.execute(
            "SELECT entry_id, seq + 1, updated_at FROM branches WHERE session_pk = ?", (pk,)
        ).fetchall()
    branches = [Branch(tip=head, length=count, updated_at=updated_at, current=True)]
    branches += [
        Branch(tip=tip, length=length, updated_at=when, current=False)
        for tip, length, when in others
    ]
    branches.sort(key=lambda b: (b.updated_at, b.tip or ""))
    return branches


def select_summaries(
    conn: sqlite3.Connection, sql: str, params: Sequence[object]
) -> list[SessionSummary]:
    return summaries(text for (text,) in conn.execute(sql, params))


def count(conn: sqlite3.Connection, scope: str | None) -> int:
    (n,) = conn.execute(
        "SELECT count(*) FROM sessions WHERE (?1 IS NULL OR scope = ?1) "
        "AND (expires_at IS NULL OR expires_at > ?2)",
        (scope, now_ts()),
    ).fetchone()
    return int(n)
