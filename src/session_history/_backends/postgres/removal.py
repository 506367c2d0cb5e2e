"""Writes that remove entries on PostgreSQL: pop, delete and prune, and what they share. An entry
goes only when no session's head or branch reaches it (``tree.collect`` decides); a deleted
session's lines that forks still reach pass to one of them. A removal locks its tree (by its
root) so removals of one tree queue, and deletes only what it read as unreached.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..._codec import MESSAGES, json_array
from ..._models import message_counts, utc_now
from ..base import PopResult, PruneResult, WriteContext
from ..shared import PruneRule, check_revision
from ..tree import Line, Point, Range, collect, point_at, shares_a_tree, tail
from .reads import SUMMARY_JSON, read_ranges, summaries, summary
from .rows import MOVE_HEAD, Row, entry_at, growable, lock, path_of

if TYPE_CHECKING:
    from .connection import Conn

__all__ = [
    "cut",
    "delete",
    "delete_locked",
    "delete_row",
    "pop",
    "prune",
    "remove_unreached",
]

# Removals in a tree take turns: the tree's lock (see the module's docstring), by its root.
TREE_LOCK = """
    SELECT pg_advisory_xact_lock(hashtext('session_history:tree:' || current_schema()),
        (root % 2147483648)::int)
    FROM lines WHERE pk = $1
"""


# What a removal decides from, in one statement (one snapshot): the tree's lines with the
# deepest entry of each (kind 0), the heads on them (1) and the branch tips (2).
TREE_AND_TIPS = """
    WITH t AS (
        SELECT pk, session_pk, parent_line, start FROM lines
        WHERE root = (SELECT root FROM lines WHERE pk = $1)
    )
    SELECT 0 AS kind, t.pk, t.session_pk, t.parent_line, t.start,
        (SELECT max(seq) FROM messages WHERE line_pk = t.pk) AS top
    FROM t
    UNION ALL
    SELECT 1, s.pk, s.head_line, s.message_count - 1, NULL, NULL
    FROM sessions AS s WHERE s.head_line IN (SELECT pk FROM t)
    UNION ALL
    SELECT 2, b.session_pk, b.line_pk, b.seq, NULL, NULL
    FROM branches AS b WHERE b.line_pk IN (SELECT pk FROM t)
"""


# Whether a session shares its tree: a fork, or forked from.
SHARED = f"SELECT {shares_a_tree('me.pk')} FROM sessions AS me WHERE me.pk = $1"


# One line of each tree the session has an entry or a tip in.
TREES_OF = """
    SELECT DISTINCT ON (root) pk FROM lines WHERE pk IN (
        SELECT head_line FROM sessions WHERE pk = $1 AND head_line IS NOT NULL
        UNION SELECT line_pk FROM branches WHERE session_pk = $1
        UNION SELECT pk FROM lines WHERE session_pk = $1)
"""


async def cut(conn: Conn, row: Row, ranges: Sequence[Range], keep: int) -> Row:
    """Move the head back to keep the first ``keep`` messages of the path ``ranges`` and remove
    what no tip reaches any longer; the session row as it is after."""
    bodies = await read_ranges(conn, tail(ranges, row.count - keep))
    turns, tool_calls = message_counts(MESSAGES.validate_json(json_array(bodies)))
    head = point_at(ranges, keep - 1)
    entry = await entry_at(conn, head) if head is not None else None
    line = head.line if head is not None else None
    await conn.execute(
        MOVE_HEAD,
        row.pk,
        keep,
        row.turns - turns,
        row.tool_calls - tool_calls,
        line,
        None,
        entry,
        None,
    )
    if row.head_line is not None:
        await remove_unreached(conn, row.head_line)
    grow = await growable(conn, row.pk, head)
    if grow is not None:
        await conn.execute("UPDATE sessions SET grow_line = $1 WHERE pk = $2", grow, row.pk)
    return Row(
        row.pk,
        keep,
        row.turns - turns,
        row.tool_calls - tool_calls,
        line,
        grow,
        entry,
        row.revision + 1,
        row.updated_at,
        row.scope,
        row.expires_at,
    )


async def remove_unreached(conn: Conn, line: int, *, leaving: int | None = None) -> None:
    """Remove the entries of ``line``'s tree that no head or branch tip reaches (but those of
    ``leaving``, a session being deleted, whose reached lines pass to another owner)."""
    await conn.execute(TREE_LOCK, line)
    lines: dict[int, Line] = {}
    tops: dict[int, int | None] = {}
    tips: list[tuple[int, Point]] = []
    for kind, a, b, c, start, top in await conn.fetch(TREE_AND_TIPS, line):
        if kind == 0:
            lines[a] = Line(a, b, c, start)
            tops[a] = top
        elif a != leaving:
            tips.append((a, Point(b, c)))
    if not lines:
        return
    plan = collect(lines, tips, leaving=leaving)
    # Only what was there when the tips were read: an append to another session of the tree
    # since then is past ``top`` (and reached by that session's head).
    trims = [
        (on, keep, top)
        for on, keep in plan.trims()
        if keep >= 0 and (top := tops[on]) is not None and top > keep
    ]
    if trims:
        await conn.execute(
            "DELETE FROM messages AS m USING unnest($1::bigint[], $2::int[], $3::int[]) "
            "AS t(line, keep, top) WHERE m.line_pk = t.line AND m.seq > t.keep "
            "AND m.seq <= t.top",
            [t[0] for t in trims],
            [t[1] for t in trims],
            [t[2] for t in trims],
        )
    if plan.owners:
        on, owners = list(plan.owners), list(plan.owners.values())
        await conn.execute(
            "UPDATE lines SET session_pk = o.owner FROM unnest($1::bigint[], $2::bigint[]) "
            "AS o(line, owner) WHERE pk = o.line",
            on,
            owners,
        )
        await conn.execute(
            "UPDATE messages SET session_pk = o.owner FROM unnest($1::bigint[], $2::bigint[]) "
            "AS o(line, owner) WHERE line_pk = o.line",
            on,
            owners,
        )
    dropped = plan.dropped()
    if dropped:
        await conn.execute("DELETE FROM lines WHERE pk = ANY ($1::bigint[])", dropped)


async def pop(
    conn: Conn, session_id: str, n: int, context: WriteContext, want_summary: bool
) -> PopResult:
    async with conn.transaction():
        # The row lock makes concurrent appends and pops on this session queue.
        row = await lock(conn, session_id)
        if row is None or row.missing_to(context.scope, utc_now()):
            return PopResult([], None)
        check_revision(session_id, context.expected_revision, row.revision)
        if row.count == 0:
            return PopResult([], None)
        ranges = await path_of(conn, row.head)
        keep = max(row.count - n, 0)
        popped = MESSAGES.validate_json(
            json_array(await read_ranges(conn, tail(ranges, row.count - keep)))
        )
        await cut(conn, row, ranges, keep)
        if context.expires_at is not None:
            await conn.execute(
                "UPDATE sessions SET expires_at = $1 WHERE pk = $2", context.expires_at, row.pk
            )
        return PopResult(popped, await summary(conn, row.pk) if want_summary else None)


async def delete_locked(conn: Conn, pk: int) -> None:
    """Delete a session whose row this transaction has locked, leaving every fork whole: the
    lines other sessions still reach pass to one of them, the rest goes with the row."""
    # After the lock, in a statement of its own: a fork made meanwhile (it locked this row to
    # make it) has committed, and this statement sees it.
    if await conn.fetchval(SHARED, pk):
        for (line,) in await conn.fetch(TREES_OF, pk):
            await remove_unreached(conn, line, leaving=pk)
    await conn.execute("DELETE FROM sessions WHERE pk = $1", pk)


async def delete_row(conn: Conn, session_id: str) -> bool:
    """Delete the session's row whatever its state, in the caller's transaction."""
    row = await lock(conn, session_id)
    if row is None:
        return False
    await delete_locked(conn, row.pk)
    return True


async def delete(conn: Conn, session_id: str, scope: str | None) -> bool:
    async with conn.transaction():
        row = await lock(conn, session_id)
        if row is None or (scope is not None and row.missing_to(scope, utc_now())):
            return False
        await delete_locked(conn, row.pk)
        return True


async def prune(conn: Conn, rules: Sequence[PruneRule], dry_run: bool) -> list[PruneResult]:
    results: list[PruneResult] = []
    async with conn.transaction():
        for rule in rules:
            rows = await conn.fetch(
                f"SELECT pk, xmin, {shares_a_tree('me.pk')}, {SUMMARY_JSON} "
                f"FROM sessions AS me {rule.selection}",
                *rule.params,
            )
            chosen = summaries(r[3] for r in rows)
            if not dry_run and rows:
                # Each statement has a snapshot of its own: delete by key exactly the sessions
                # chosen (the selection run again could take one it did not report), and only
                # as they were chosen (xmin, the row's version): a session another writer
                # changed meanwhile (an append made it the newest) is kept, with what it got.
                deleted: set[str] = set()
                for r in rows:
                    if r[2]:  # in a tree with others: one by one, keeping what they reach
                        locked = await conn.fetchval(
                            "SELECT session_id FROM sessions WHERE pk = $1 AND xmin = $2 "
                            "FOR UPDATE",
                            r[0],
                            r[1],
                        )
                        if locked is not None:
                            await delete_locked(conn, r[0])
                            deleted.add(locked)
                alone = [r for r in rows if not r[2]]
                deleted |= {
                    r[0]
                    for r in await conn.fetch(
                        "DELETE FROM sessions AS s USING unnest($1::bigint[], $2::xid[]) "
                        "AS chosen(pk, version) WHERE s.pk = chosen.pk "
                        "AND s.xmin = chosen.version RETURNING s.session_id",
                        [r[0] for r in alone],
                        [r[1] for r in alone],
                    )
                }
                chosen = [summary for summary in chosen if summary.id in deleted]
            if chosen:
                results.append(PruneResult(rule.reason, chosen))
    return results
