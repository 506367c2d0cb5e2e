"""Writes that move a head on PostgreSQL: a branch of a session, and a fork (a new session whose
path is its source's up to an entry, sharing those entries). The branch left stays as a tip.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import JsonValue

from ..._errors import InvalidQueryError, SessionExistsError, SessionNotFoundError
from ..._models import SessionSummary, utc_now
from ..base import BranchTarget, WriteContext
from ..tree import Point, Range, contains, path, point_at, prefix
from .reads import summary, tree_of
from .removal import delete_row
from .rows import (
    MOVE_HEAD,
    Row,
    entry_at,
    growable,
    lock,
    lock_for_write,
    path_of,
    range_columns,
    tips_of,
)
from .writes import checked_text

if TYPE_CHECKING:
    from .connection import Conn

__all__ = [
    "branch",
    "fork",
    "recount",
]

# Turns and tool calls of the ranges $1-$3, as ``message_counts`` counts them, from the bodies.
COUNTS = """
    SELECT coalesce(sum((m.role = 'assistant' AND m.body -> 'content' IS NOT NULL)::int), 0),
        coalesce(sum(json_array_length(m.body -> 'tool_calls')), 0)
    FROM unnest($1::bigint[], $2::int[], $3::int[]) AS r(line, lo, hi)
    JOIN messages AS m ON m.line_pk = r.line AND m.seq BETWEEN r.lo AND r.hi
"""


async def recount(conn: Conn, ranges: Sequence[Range]) -> tuple[int, int]:
    if not ranges:
        return 0, 0
    found = await conn.fetchrow(COUNTS, *range_columns(ranges))
    assert found is not None
    return int(found[0]), int(found[1])


async def _target(
    conn: Conn, session_id: str, row: Row, target: BranchTarget
) -> tuple[Point | None, list[Range]]:
    """Where a branch or a fork of the session starts, and the path to there."""
    if target.from_entry is None:
        at = target.at if target.at is not None else row.count
        if not 0 <= at <= row.count:
            raise InvalidQueryError(
                f"at={at} is out of range: session {session_id!r} has {row.count} messages on "
                f"its current branch; give 0 to {row.count}"
            )
        ranges = await path_of(conn, row.head)
        return point_at(ranges, at - 1), prefix(ranges, at)
    places = await conn.fetch(
        "SELECT line_pk, seq FROM messages WHERE entry_id = $1", target.from_entry
    )
    tips = [row.head, *await tips_of(conn, row.pk)] if places else []
    for line, seq in places:
        point = Point(line, seq)
        for tip in tips:
            if tip is not None and contains(await path_of(conn, tip), point):
                return point, path(await tree_of(conn, line), point)
    raise InvalidQueryError(
        f"entry {target.from_entry!r} is not in session {session_id!r} (on its current branch "
        "or another); list its entries with load_messages or its branches with list_branches"
    )


async def branch(
    conn: Conn, session_id: str, target: BranchTarget, context: WriteContext
) -> SessionSummary:
    async with conn.transaction():
        row = await lock_for_write(conn, session_id, context)
        point, ranges = await _target(conn, session_id, row, target)
        if point != row.head:
            await _move_head(conn, row, point, ranges, context)
        return await summary(conn, row.pk)


async def _move_head(
    conn: Conn, row: Row, point: Point | None, ranges: Sequence[Range], context: WriteContext
) -> None:
    """Make ``point`` the head; the branch left keeps its entries as a branch of its own unless
    it is on the new path (it then holds nothing of its own)."""
    old = row.head
    if old is not None and not contains(ranges, old):
        await conn.execute(
            "INSERT INTO branches (session_pk, line_pk, seq, entry_id, updated_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            row.pk,
            old.line,
            old.seq,
            row.head_entry,
            row.updated_at,
        )
    left = [tip for tip in await tips_of(conn, row.pk) if contains(ranges, tip)]
    if left:
        await conn.execute(
            "DELETE FROM branches AS b USING unnest($2::bigint[], $3::int[]) AS t(line, seq) "
            "WHERE b.session_pk = $1 AND b.line_pk = t.line AND b.seq = t.seq",
            row.pk,
            [tip.line for tip in left],
            [tip.seq for tip in left],
        )
    turns, tool_calls = await recount(conn, ranges)
    await conn.execute(
        MOVE_HEAD,
        row.pk,
        point.seq + 1 if point is not None else 0,
        turns,
        tool_calls,
        point.line if point is not None else None,
        await growable(conn, row.pk, point),
        await entry_at(conn, point) if point is not None else None,
        context.expires_at,
    )


async def fork(
    conn: Conn,
    source_id: str,
    new_id: str,
    target: BranchTarget,
    source_scope: str | None,
    scope: str | None,
    metadata: dict[str, JsonValue] | None,
    expires_at: datetime | None,
) -> SessionSummary:
    checked_text(new_id, "id")
    async with conn.transaction():
        # The source's row lock keeps its tips (which reach the fork's point) where they are.
        row = await lock(conn, source_id)
        if row is None or row.missing_to(source_scope, utc_now()):
            raise SessionNotFoundError(source_id, scope=source_scope)
        taken = await lock(conn, new_id)
        if taken is not None and not taken.expired(utc_now()):
            raise SessionExistsError(new_id)
        if taken is not None:
            await delete_row(conn, new_id)
        point, ranges = await _target(conn, source_id, row, target)
        turns, tool_calls = await recount(conn, ranges)
        entry = await entry_at(conn, point) if point is not None else None
        pk = await conn.fetchval(
            "INSERT INTO sessions (session_id, agent_name, model, started_at, updated_at, "
            "message_count, turn_count, tool_call_count, metadata, scope, expires_at, "
            "head_line, head_entry, forked_from, forked_at) "
            "SELECT $1, agent_name, model, clock_timestamp(), clock_timestamp(), $2, $3, $4, "
            "coalesce($5::json, metadata), coalesce($6, scope), $7, $8, $9, $10, $9 "
            "FROM sessions WHERE pk = $11 "
            "ON CONFLICT (session_id) DO NOTHING RETURNING pk",
            new_id,
            point.seq + 1 if point is not None else 0,
            turns,
            tool_calls,
            json.dumps(metadata, ensure_ascii=False) if metadata is not None else None,
            checked_text(scope, "scope") if scope is not None else None,
            expires_at,
            point.line if point is not None else None,
            entry,
            source_id,
            row.pk,
        )
        if pk is None:  # another writer made it meanwhile
            raise SessionExistsError(new_id)
        return await summary(conn, pk)
