"""Export and import on SQLite: sessions as JSON lines, lossless, in batches.

An export line is the stored JSON as it is: the session's fields made by SQLite, and the message
bodies spliced in (each holds its entry id); the current branch is ``messages``, every other
branch the messages it adds after its ``parent`` entry. An import stores each session of a batch
in one transaction: added if new, left alone if unchanged, replaced otherwise.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Literal

from ..._codec import MESSAGES, json_array
from ..._errors import InvalidQueryError
from ..._lines import BATCH, STAND_IN, Array, HugeLine
from ..._models import ChatMessage, ExportedSession, message_counts
from ..base import ExportBatch, ExportParts, ImportOutcome
from ..shared import format_ts, message_rows, now_ts, unchanged, with_entry_ids
from ..tree import Point, Range, beyond, branch_start, path, point_at
from ..windows import PathRead, size, windows
from .connection import atomic, snapshot
from .reads import read_ranges, state_of, summary
from .removal import delete_row
from .rows import tree_of
from .writes import bodies_of, insert_messages, insert_session, new_line

__all__ = [
    "export_batch",
    "export_line",
    "export_parts",
    "export_pieces",
    "import_huge",
    "import_sessions",
]

EXPORT_JSON = """json_object(
    'session_id', session_id, 'agent_name', agent_name, 'model', model,
    'started_at', started_at, 'ended_at', ended_at, 'updated_at', updated_at,
    'usage', json(usage), 'metadata', json(metadata), 'scope', scope, 'expires_at', expires_at,
    'revision', revision, 'forked_from', forked_from, 'forked_at', forked_at)"""


def export_pieces(
    conn: sqlite3.Connection, pk: int, head: str, head_line: int | None, count: int, tip: str | None
) -> list[str | PathRead]:
    """One session's export line as pieces (see ``ExportParts``), read in the caller's
    transaction: its text around its message arrays, and each array's path to read."""
    lines = tree_of(conn, head_line) if head_line is not None else {}
    current = path(lines, Point(head_line, count - 1)) if head_line is not None else []
    exported: list[Range] = list(current)
    branches: list[str | PathRead] = []
    for line, seq, updated_at, entry in conn.execute(
        "SELECT line_pk, seq, updated_at, entry_id FROM branches WHERE session_pk = ? "
        "ORDER BY updated_at, line_pk, seq",
        (pk,),
    ).fetchall():
        if not lines:
            lines = tree_of(conn, line)
        tip_path = path(lines, Point(line, seq))
        own = beyond(tip_path, exported)
        parent = None
        if own and own[0].lo > 0:
            before = point_at(tip_path, own[0].lo - 1)
            assert before is not None  # a branch's parent is on its path
            (parent,) = conn.execute(
                "SELECT entry_id FROM messages WHERE line_pk = ? AND seq = ?",
                (before.line, before.seq),
            ).fetchone()
        if own:
            exported += own
            branches += [
                f'{"," if branches else ""}{{"parent":{json.dumps(parent)},"messages":[',
                PathRead(own, entry),
                f'],"updated_at":{json.dumps(updated_at)}}}',
            ]
    start = head[:-1] + f',"state":{state_of(conn, pk)},"branches":['
    return [start, *branches, '],"messages":[', PathRead(current, tip), "]}"]


def export_line(
    conn: sqlite3.Connection, pk: int, head: str, head_line: int | None, count: int, tip: str | None
) -> str:
    """One session's export line, read in the caller's transaction."""
    return "".join(
        piece if isinstance(piece, str) else _bodies(conn, piece)
        for piece in export_pieces(conn, pk, head, head_line, count, tip)
    )


def _bodies(conn: sqlite3.Connection, piece: PathRead) -> str:
    return ",".join(body for (body,) in read_ranges(conn, piece.ranges))


HEADS = f"""SELECT pk, {EXPORT_JSON}, head_line, message_count, head_entry,
        message_count + coalesce((SELECT sum(seq + 1) FROM branches WHERE session_pk = pk), 0)
    FROM sessions WHERE pk > ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY pk LIMIT ?"""
"""A batch of sessions to export, each with an upper bound of its entries (its branches'
lengths counted whole): whether its line is read now or in windows."""


def export_batch(conn: sqlite3.Connection, cursor: int, limit: int) -> ExportBatch:
    with snapshot(conn):
        heads = conn.execute(HEADS, (cursor, now_ts(), limit)).fetchall()
        if not heads:
            return ExportBatch([], None)
        lines = [export_line(conn, *head[:5]) for head in heads]
    return ExportBatch(lines, heads[-1][0])


def export_parts(conn: sqlite3.Connection, cursor: int, limit: int, whole: int) -> ExportParts:
    out: list[tuple[str, list[str | PathRead]]] = []
    with snapshot(conn):
        heads = conn.execute(HEADS, (cursor, now_ts(), limit)).fetchall()
        for pk, head, head_line, count, tip, entries in heads:
            session_id = json.loads(head)["session_id"] if entries > whole else ""
            if entries <= whole:
                out.append((session_id, [export_line(conn, pk, head, head_line, count, tip)]))
            else:
                out.append((session_id, export_pieces(conn, pk, head, head_line, count, tip)))
    return ExportParts(out, heads[-1][0] if heads else None)


def import_sessions(
    conn: sqlite3.Connection,
    prepared: Sequence[tuple[ExportedSession, str]],
    want_summary: bool,
) -> list[ImportOutcome]:
    outcomes: list[ImportOutcome] = []
    with atomic(conn):
        for session, bodies in prepared:
            row = conn.execute(
                f"SELECT pk, message_count, {EXPORT_JSON}, head_line, head_entry FROM sessions "
                "WHERE session_id = ?",
                (session.session_id,),
            ).fetchone()
            outcome: Literal["added", "replaced", "unchanged"] = "added"
            if row is not None:
                pk, count, head, head_line, tip = row
                if unchanged(export_line(conn, pk, head, head_line, count, tip), session):
                    outcomes.append(ImportOutcome(session.session_id, "unchanged", None, []))
                    continue
                delete_row(conn, session.session_id)
                outcome = "replaced"
            pk = insert_session(conn, session, bodies, session.updated_at)
            _import_tree(conn, pk, session)
            found = summary(conn, pk) if want_summary else None
            outcomes.append(ImportOutcome(session.session_id, outcome, found, session.messages))
    return outcomes


def _import_tree(conn: sqlite3.Connection, pk: int, session: ExportedSession) -> None:
    """The imported session's other branches, revision and fork, after its current branch."""
    conn.execute(
        "UPDATE sessions SET revision = ?, forked_from = ?, forked_at = ? WHERE pk = ?",
        (session.revision or 1, session.forked_from, session.forked_at, pk),
    )
    if not session.branches:
        return
    places = {
        entry: Point(line, seq)
        for entry, line, seq in conn.execute(
            "SELECT entry_id, line_pk, seq FROM messages WHERE session_pk = ?", (pk,)
        )
    }
    root_line = next(iter(places.values())).line if places else None
    for branch in session.branches:
        messages: list[ChatMessage] = with_entry_ids(branch.messages)[0]
        parent = branch_start(places, branch.parent, session.session_id)
        root = None
        if parent is None and root_line is not None:
            (root,) = conn.execute("SELECT root FROM lines WHERE pk = ?", (root_line,)).fetchone()
        start = parent.seq + 1 if parent is not None else 0
        line = new_line(conn, pk, parent.line if parent else None, start, root)
        if root_line is None:
            root_line = line
        insert_messages(conn, pk, line, start, message_rows(messages))
        for i, message in enumerate(messages):
            places[message.entry_id or ""] = Point(line, start + i)
        tip = Point(line, start + len(messages) - 1)
        conn.execute(
            "INSERT INTO branches (session_pk, line_pk, seq, entry_id, updated_at) "
            "VALUES (?, ?, ?, ?, coalesce(?, ?))",
            (
                pk,
                tip.line,
                tip.seq,
                messages[-1].entry_id,
                format_ts(branch.updated_at) if branch.updated_at else None,
                now_ts(),
            ),
        )


def import_huge(conn: sqlite3.Connection, huge: HugeLine) -> ImportOutcome:
    """Store a huge line's session (``_lines.py``) in one transaction, its messages parsed and
    inserted a batch at a time: added, left alone when unchanged, or replaced."""
    session = huge.session
    with atomic(conn):
        row = conn.execute(
            f"SELECT pk, {EXPORT_JSON}, head_line, message_count, head_entry FROM sessions "
            "WHERE session_id = ?",
            (session.session_id,),
        ).fetchone()
        outcome: Literal["added", "replaced"] = "added"
        if row is not None:
            if _same(conn, huge, export_pieces(conn, *row)):
                return ImportOutcome(session.session_id, "unchanged", None, [])
            delete_row(conn, session.session_id)
            outcome = "replaced"
        pk = insert_session(conn, session, [], session.updated_at)
        root_line = None
        if huge.current.count:
            root_line = new_line(conn, pk, None, 0, None)
            count, turns, tool_calls, last = _insert_batches(
                conn, pk, root_line, 0, huge, huge.current
            )
            conn.execute(
                "UPDATE sessions SET message_count = ?1, turn_count = ?2, tool_call_count = ?3, "
                "head_entry = ?4, head_line = ?5, grow_line = ?5 WHERE pk = ?6",
                (count, turns, tool_calls, last, root_line, pk),
            )
        for branch, array in zip(session.branches, huge.branches, strict=True):
            parent = None
            if branch.parent is not None:
                parent = conn.execute(
                    "SELECT line_pk, seq FROM messages WHERE session_pk = ? AND entry_id = ?",
                    (pk, branch.parent),
                ).fetchone()
                if parent is None:
                    raise InvalidQueryError(
                        f"session {session.session_id!r}: a branch's parent entry "
                        f"{branch.parent!r} is not on the current branch or an earlier one; the "
                        "line is not an export of a session's tree"
                    )
            root = None
            if parent is None and root_line is not None:
                (root,) = conn.execute(
                    "SELECT root FROM lines WHERE pk = ?", (root_line,)
                ).fetchone()
            start = parent[1] + 1 if parent is not None else 0
            line = new_line(conn, pk, parent[0] if parent else None, start, root)
            root_line = root_line or line
            count, _, _, last = _insert_batches(conn, pk, line, start, huge, array)
            conn.execute(
                "INSERT INTO branches (session_pk, line_pk, seq, entry_id, updated_at) "
                "VALUES (?, ?, ?, ?, coalesce(?, ?))",
                (
                    pk,
                    line,
                    start + count - 1,
                    last,
                    format_ts(branch.updated_at) if branch.updated_at else None,
                    now_ts(),
                ),
            )
        conn.execute(
            "UPDATE sessions SET revision = ?, forked_from = ?, forked_at = ? WHERE pk = ?",
            (session.revision or 1, session.forked_from, session.forked_at, pk),
        )
    return ImportOutcome(session.session_id, outcome, None, [])


def _insert_batches(
    conn: sqlite3.Connection, pk: int, line: int, start: int, huge: HugeLine, array: Array
) -> tuple[int, int, int, str | None]:
    """Insert ``array``'s messages on ``line`` from depth ``start``, a batch at a time: how
    many, their turns and tool calls, and the last one's entry id."""
    count = turns = tool_calls = 0
    last = None
    for batch in huge.batches(array):
        messages = with_entry_ids(batch)[0]
        insert_messages(conn, pk, line, start + count, bodies_of(messages))
        more_turns, more_calls = message_counts(messages)
        count, turns, tool_calls = (
            count + len(messages),
            turns + more_turns,
            tool_calls + more_calls,
        )
        last = messages[-1].entry_id
    return count, turns, tool_calls, last


def _same(conn: sqlite3.Connection, huge: HugeLine, pieces: list[str | PathRead]) -> bool:
    """Whether the stored session, as ``pieces``, is the huge line's: compared as models, as
    ``shared.unchanged`` does, its messages a window at a time."""
    head = "".join(piece if isinstance(piece, str) else STAND_IN for piece in pieces)
    if not unchanged(head, huge.head):
        return False
    paths = [piece for piece in pieces if not isinstance(piece, str)]
    arrays = [*huge.branches, huge.current]  # in the order of an export line
    if len(paths) != len(arrays):
        return False
    for piece, array in zip(paths, arrays, strict=True):
        if size(piece.ranges) != array.count:
            return False
        for window, batch in zip(windows(piece.ranges, BATCH), huge.batches(array), strict=True):
            stored = MESSAGES.validate_json(json_array(b for (b,) in read_ranges(conn, window)))
            if stored != batch:
                return False
    return True
