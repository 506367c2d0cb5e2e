"""A session's row as the tree's writes read it on PostgreSQL (:class:`Row`, locked for the
write's transaction), and the small reads every write shares: the lines of its tree, its branch
tips, an entry's id, whether an append may extend the head's line in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from ..._errors import SessionNotFoundError
from ..._models import utc_now
from ..base import WriteContext
from ..shared import check_revision
from ..tree import HeadRow, Point, Range, path
from .reads import tree_of

if TYPE_CHECKING:
    from .connection import Conn

__all__ = [
    "MOVE_HEAD",
    "ROW",
    "Row",
    "entry_at",
    "growable",
    "lock",
    "lock_for_write",
    "path_of",
    "range_columns",
    "root_of",
    "some_line",
    "tips_of",
]

# The head moved (a pop, a branch, a new line): where it is now, and what the session counts.
MOVE_HEAD = """
    UPDATE sessions SET message_count = $2, turn_count = $3, tool_call_count = $4,
        head_line = $5, grow_line = $6, head_entry = $7,
        updated_at = greatest(updated_at, clock_timestamp()), revision = revision + 1,
        expires_at = coalesce($8, expires_at)
    WHERE pk = $1
"""


ROW = """
    SELECT pk, message_count, turn_count, tool_call_count, head_line, grow_line, head_entry,
        revision, updated_at, scope, expires_at
    FROM sessions WHERE session_id = $1 FOR UPDATE
"""


Row = HeadRow[datetime]
"""A session row as PostgreSQL gives it (times as datetimes)."""


async def lock(conn: Conn, session_id: str) -> Row | None:
    """The session's row, locked until the transaction ends (whatever its scope or expiry)."""
    found = await conn.fetchrow(ROW, session_id)
    return Row(*found) if found is not None else None


async def lock_for_write(conn: Conn, session_id: str, context: WriteContext) -> Row:
    row = await lock(conn, session_id)
    if row is None or row.missing_to(context.scope, utc_now()):
        raise SessionNotFoundError(session_id, scope=context.scope)
    check_revision(session_id, context.expected_revision, row.revision)
    return row


async def tips_of(conn: Conn, session_pk: int) -> list[Point]:
    rows = await conn.fetch("SELECT line_pk, seq FROM branches WHERE session_pk = $1", session_pk)
    return [Point(r[0], r[1]) for r in rows]


async def some_line(conn: Conn, row: Row) -> int | None:
    """A line of the session's tree: its head's, else a branch's (None: it has no entries)."""
    if row.head_line is not None:
        return row.head_line
    found = await conn.fetchval(
        "SELECT line_pk FROM branches WHERE session_pk = $1 LIMIT 1", row.pk
    )
    return int(found) if found is not None else None


async def root_of(conn: Conn, line: int) -> int:
    return int(await conn.fetchval("SELECT root FROM lines WHERE pk = $1", line))


async def path_of(conn: Conn, head: Point | None) -> list[Range]:
    if head is None:
        return []
    return path(await tree_of(conn, head.line), head)


def range_columns(ranges: Sequence[Range]) -> tuple[list[int], list[int], list[int]]:
    return [r.line for r in ranges], [r.lo for r in ranges], [r.hi for r in ranges]


async def entry_at(conn: Conn, point: Point) -> str:
    return str(
        await conn.fetchval(
            "SELECT entry_id FROM messages WHERE line_pk = $1 AND seq = $2", point.line, point.seq
        )
    )


async def growable(conn: Conn, session_pk: int, head: Point | None) -> int | None:
    """The line an append may extend in place: the head's, when the session owns it and the
    head is its last entry."""
    if head is None:
        return None
    grows = await conn.fetchval(
        "SELECT session_pk = $2 AND NOT EXISTS (SELECT 1 FROM messages WHERE line_pk = $1 "
        "AND seq > $3) FROM lines WHERE pk = $1",
        head.line,
        session_pk,
        head.seq,
    )
    return head.line if grows else None
