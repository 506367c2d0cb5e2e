"""Writes that move a head on SQLite: a branch of a session, and a fork (a new session whose path
is its source's up to an entry, sharing those entries). Where they start is a
:class:`~session_history._backends.base.BranchTarget`; the branch left stays as a branch tip.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from pydantic import JsonValue

from ..._errors import InvalidQueryError, SessionExistsError, SessionNotFoundError
from ..._models import SessionSummary
from ..base import BranchTarget, WriteContext
from ..shared import (
    now_ts,
)
from ..tree import Point, Range, contains, path, point_at, prefix
from .connection import atomic
from .reads import summary
from .removal import delete_row
from .rows import (
    MOVE_HEAD,
    Row,
    entry_at,
    growable,
    locate,
    locate_for_write,
    path_of,
    tips_of,
    tree_of,
    ts,
)

__all__ = [
    "branch",
    "fork",
]

# Turns and tool calls of a path, as ``message_counts`` counts them, read from the bodies.
COUNTS = (
    "SELECT coalesce(sum(role = 'assistant' AND body -> '$.content' IS NOT NULL), 0), "
    "coalesce(sum(json_array_length(body, '$.tool_calls')), 0) FROM messages WHERE "
)


def _target(
    conn: sqlite3.Connection, session_id: str, row: Row, target: BranchTarget
) -> tuple[Point | None, list[Range]]:
    """Where a branch or a fork of the session starts, and the path to there."""
    if target.from_entry is None:
        at = target.at if target.at is not None else row.count
        if not 0 <= at <= row.count:
            raise InvalidQueryError(
                f"at={at} is out of range: session {session_id!r} has {row.count} messages on "
                f"its current branch; give 0 to {row.count}"
            )
        ranges = path_of(conn, row.head)
        return point_at(ranges, at - 1), prefix(ranges, at)
    for line, seq in conn.execute(
        "SELECT line_pk, seq FROM messages WHERE entry_id = ?", (target.from_entry,)
    ).fetchall():
        point = Point(line, seq)
        for tip in [row.head, *tips_of(conn, row.pk)]:
            if tip is None:
                continue
            tip_path = path_of(conn, tip)
            if contains(tip_path, point):
                return point, path(tree_of(conn, line), point)
    raise InvalidQueryError(
        f"entry {target.from_entry!r} is not in session {session_id!r} (on its current branch "
        "or another); list its entries with load_messages or its branches with list_branches"
    )


def _recount(conn: sqlite3.Connection, ranges: Sequence[Range]) -> tuple[int, int]:
    if not ranges:
        return 0, 0
    where = " OR ".join("(line_pk = ? AND seq BETWEEN ? AND ?)" for _ in ranges)
    params = tuple(v for r in ranges for v in (r.line, r.lo, r.hi))
    turns, tool_calls = conn.execute(COUNTS + where, params).fetchone()
    return int(turns), int(tool_calls)


def branch(
    conn: sqlite3.Connection, session_id: str, target: BranchTarget, context: WriteContext
) -> SessionSummary:
    with atomic(conn):
        row = locate_for_write(conn, session_id, context)
        point, ranges = _target(conn, session_id, row, target)
        if point != row.head:
            _move_head(conn, row, point, ranges, context)
        return summary(conn, row.pk)


def _move_head(
    conn: sqlite3.Connection,
    row: Row,
    point: Point | None,
    ranges: Sequence[Range],
    context: WriteContext,
) -> None:
    """Make ``point`` the head; the branch left keeps its entries as a branch of its own unless
    it is on the new path (it then holds nothing of its own)."""
    old = row.head
    if old is not None and not contains(ranges, old):
        conn.execute(
            "INSERT OR IGNORE INTO branches (session_pk, line_pk, seq, entry_id, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (row.pk, old.line, old.seq, row.head_entry, row.updated_at),
        )
    for tip in tips_of(conn, row.pk):
        if contains(ranges, tip):
            conn.execute(
                "DELETE FROM branches WHERE session_pk = ? AND line_pk = ? AND seq = ?",
                (row.pk, tip.line, tip.seq),
            )
    turns, tool_calls = _recount(conn, ranges)
    conn.execute(
        MOVE_HEAD,
        (
            point.seq + 1 if point is not None else 0,
            turns,
            tool_calls,
            point.line if point is not None else None,
            growable(conn, row.pk, point),
            entry_at(conn, point) if point is not None else None,
            now_ts(),
            ts(context.expires_at),
            row.pk,
        ),
    )


def fork(
    conn: sqlite3.Connection,
    source_id: str,
    new_id: str,
    target: BranchTarget,
    source_scope: str | None,
    scope: str | None,
    metadata: dict[str, JsonValue] | None,
    expires_at: datetime | None,
) -> SessionSummary:
    with atomic(conn):
        row = locate(conn, source_id, source_scope)
        if row is None:
            raise SessionNotFoundError(source_id, scope=source_scope)
        if locate(conn, new_id) is not None:
            raise SessionExistsError(new_id)
        delete_row(conn, new_id)
        point, ranges = _target(conn, source_id, row, target)
        turns, tool_calls = _recount(conn, ranges)
        now = now_ts()
        source = conn.execute(
            "SELECT agent_name, model, metadata, scope FROM sessions WHERE pk = ?", (row.pk,)
        ).fetchone()
        cursor = conn.execute(
            "INSERT INTO sessions (session_id, agent_name, model, started_at, updated_at, "
            "message_count, turn_count, tool_call_count, metadata, scope, expires_at, "
            "head_line, head_entry, forked_from, forked_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new_id,
                source[0],
                source[1],
                now,
                now,
                point.seq + 1 if point is not None else 0,
                turns,
                tool_calls,
                json.dumps(metadata, ensure_ascii=False) if metadata is not None else source[2],
                scope if scope is not None else source[3],
                ts(expires_at),
                point.line if point is not None else None,
                entry_at(conn, point) if point is not None else None,
                source_id,
                entry_at(conn, point) if point is not None else None,
            ),
        )
        pk = cursor.lastrowid
        assert pk is not None
        return summary(conn, pk)
