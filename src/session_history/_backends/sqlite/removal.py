"""Writes that remove entries on SQLite: pop, delete and prune, and what they share. An entry goes
only when no session's head or branch reaches it (``tree.collect`` decides); a deleted session's
lines that forks still reach pass to one of them. Each function runs in the caller's
transaction or is one of its own (``connection.atomic``), on the worker thread; a deletion
first keeps what the search index needs to forget it (:func:`~.index.unindex`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ..._codec import MESSAGES, json_array
from ..._models import SessionSummary, message_counts
from ..base import PopResult, PruneResult, WriteContext
from ..shared import (
    PruneRule,
    check_revision,
    now_ts,
)
from ..tree import Point, Range, collect, point_at, shares_a_tree, tail
from .connection import atomic, snapshot
from .index import forgotten, rebuild_later, unindex
from .reads import read_ranges, summaries, summary
from .rows import MOVE_HEAD, Row, entry_at, growable, locate, path_of, root_of, tree_of, ts

__all__ = [
    "cut",
    "delete",
    "delete_row",
    "pop",
    "prune",
    "remove_unreached",
]


def cut(conn: sqlite3.Connection, row: Row, ranges: Sequence[Range], keep: int) -> Row:
    """Move the head back to keep the first ``keep`` messages of the path ``ranges`` and remove
    what no tip reaches any longer; the session row as it is after. Returns the new row."""
    popped = tail(ranges, row.count - keep)
    bodies = [body for (body,) in read_ranges(conn, popped)]
    turns, tool_calls = message_counts(MESSAGES.validate_json(json_array(bodies)))
    head = point_at(ranges, keep - 1)
    entry = entry_at(conn, head) if head is not None else None
    line = head.line if head is not None else None
    conn.execute(
        MOVE_HEAD,
        (
            keep,
            row.turns - turns,
            row.tool_calls - tool_calls,
            line,
            None,
            entry,
            now_ts(),
            None,
            row.pk,
        ),
    )
    if row.head_line is not None:
        remove_unreached(conn, row.head_line)
    grow = growable(conn, row.pk, head)
    if grow is not None:
        conn.execute("UPDATE sessions SET grow_line = ? WHERE pk = ?", (grow, row.pk))
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


def remove_unreached(conn: sqlite3.Connection, line: int, *, leaving: int | None = None) -> None:
    """Remove the entries of ``line``'s tree that no head or branch tip reaches (but those of
    ``leaving``, a session being deleted, whose reached lines pass to another owner)."""
    lines = tree_of(conn, line)
    if not lines:
        return
    marks = ",".join("?" * len(lines))
    keys = tuple(lines)
    tips = [
        (pk, Point(head, seq))
        for pk, head, seq in conn.execute(
            f"SELECT pk, head_line, message_count - 1 FROM sessions WHERE head_line IN ({marks})",
            keys,
        )
    ]
    tips += [
        (pk, Point(on, seq))
        for pk, on, seq in conn.execute(
            f"SELECT session_pk, line_pk, seq FROM branches WHERE line_pk IN ({marks})", keys
        )
    ]
    plan = collect(lines, [t for t in tips if t[0] != leaving], leaving=leaving)
    removed = False
    for on, keep in plan.trims():
        if conn.execute(
            "SELECT 1 FROM messages WHERE line_pk = ? AND seq > ? LIMIT 1", (on, keep)
        ).fetchone():
            unindex(conn, "line_pk = ? AND seq > ?", (on, keep))
            conn.execute("DELETE FROM messages WHERE line_pk = ? AND seq > ?", (on, keep))
            removed = True
    for on, owner in plan.owners.items():
        conn.execute("UPDATE lines SET session_pk = ? WHERE pk = ?", (owner, on))
        conn.execute("UPDATE messages SET session_pk = ? WHERE line_pk = ?", (owner, on))
    dropped = plan.dropped()
    if dropped:
        conn.execute(
            f"DELETE FROM lines WHERE pk IN ({','.join('?' * len(dropped))})", tuple(dropped)
        )
    if removed:
        forgotten(conn)


def pop(
    conn: sqlite3.Connection, session_id: str, n: int, context: WriteContext, want_summary: bool
) -> PopResult:
    with atomic(conn):
        row = locate(conn, session_id, context.scope)
        if row is None:
            return PopResult([], None)
        check_revision(session_id, context.expected_revision, row.revision)
        if row.count == 0:
            return PopResult([], None)
        ranges = path_of(conn, row.head)
        keep = max(row.count - n, 0)
        popped = MESSAGES.validate_json(
            json_array(body for (body,) in read_ranges(conn, tail(ranges, row.count - keep)))
        )
        cut(conn, row, ranges, keep)
        if context.expires_at is not None:
            conn.execute(
                "UPDATE sessions SET expires_at = ? WHERE pk = ?",
                (ts(context.expires_at), row.pk),
            )
        return PopResult(popped, summary(conn, row.pk) if want_summary else None)


def delete_row(conn: sqlite3.Connection, session_id: str) -> bool:
    """Delete the session's row whatever its state, leaving every fork whole: the lines other
    sessions still reach pass to one of them, the rest goes with the row."""
    found = conn.execute(
        f"SELECT me.pk, {shares_a_tree('me.pk')} FROM sessions AS me WHERE me.session_id = ?",
        (session_id,),
    ).fetchone()
    if found is None:
        return False
    pk, shared = found
    if shared:
        lines = {
            line
            for (line,) in conn.execute(
                "SELECT head_line FROM sessions WHERE pk = ?1 AND head_line IS NOT NULL "
                "UNION SELECT line_pk FROM branches WHERE session_pk = ?1 "
                "UNION SELECT pk FROM lines WHERE session_pk = ?1",
                (pk,),
            )
        }
        roots = {root_of(conn, line): line for line in lines}
        for line in roots.values():
            remove_unreached(conn, line, leaving=pk)
    unindex(conn, "session_pk = ?", (pk,))
    conn.execute("DELETE FROM sessions WHERE pk = ?", (pk,))
    forgotten(conn)
    return True


def delete(conn: sqlite3.Connection, session_id: str, scope: str | None) -> bool:
    with atomic(conn):
        if scope is not None and locate(conn, session_id, scope) is None:
            return False
        return delete_row(conn, session_id)


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
                # Sessions in a tree with others (forks) one by one, keeping what the others
                # reach; the rest at once.
                shared = [
                    session_id
                    for (session_id,) in conn.execute(
                        f"SELECT me.session_id FROM sessions AS me WHERE me.pk IN ({chosen}) "
                        f"AND {shares_a_tree('me.pk')}",
                        rule.params,
                    )
                ]
                for session_id in shared:
                    delete_row(conn, session_id)
                if _most_of_the_index(conn, results[-1].pruned):
                    rebuild_later(conn)
                else:
                    unindex(
                        conn,
                        f"session_pk IN ({chosen})",
                        tuple(rule.params),
                    )
                conn.execute(f"DELETE FROM sessions WHERE pk IN ({chosen})", rule.params)
                forgotten(conn)
    return results


def _most_of_the_index(conn: sqlite3.Connection, going: Sequence[SessionSummary]) -> bool:
    """Whether deleting ``going`` removes most messages: then the index is rebuilt from what
    stays rather than told of each removal."""
    (total,) = conn.execute("SELECT coalesce(sum(message_count), 0) FROM sessions").fetchone()
    return 2 * sum(summary.message_count for summary in going) > int(total)
