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

from ..._codec import json_array, with_messages
from ..._errors import InvalidQueryError
from ..._models import ChatMessage, ExportedSession
from ..base import ExportBatch, ImportOutcome
from ..shared import format_ts, message_rows, now_ts, unchanged, with_entry_ids
from ..tree import Point, Range, beyond, path, point_at
from .connection import atomic, snapshot
from .reads import read_ranges, state_of, summary
from .removal import delete_row
from .rows import tree_of
from .writes import insert_messages, insert_session, new_line

__all__ = ["export_batch", "export_line", "import_sessions"]

EXPORT_JSON = """json_object(
    'session_id', session_id, 'agent_name', agent_name, 'model', model,
    'started_at', started_at, 'ended_at', ended_at, 'updated_at', updated_at,
    'usage', json(usage), 'metadata', json(metadata), 'scope', scope, 'expires_at', expires_at,
    'revision', revision, 'forked_from', forked_from, 'forked_at', forked_at)"""


def export_line(
    conn: sqlite3.Connection, pk: int, head: str, head_line: int | None, count: int
) -> str:
    """One session's export line, read in the caller's transaction."""
    lines = tree_of(conn, head_line) if head_line is not None else {}
    current = path(lines, Point(head_line, count - 1)) if head_line is not None else []
    bodies = [body for (body,) in read_ranges(conn, current)]
    exported: list[Range] = list(current)
    branches: list[str] = []
    for line, seq, updated_at in conn.execute(
        "SELECT line_pk, seq, updated_at FROM branches WHERE session_pk = ? "
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
            messages = json_array(body for (body,) in read_ranges(conn, own))
            branches.append(
                f'{{"parent":{json.dumps(parent)},"messages":{messages},'
                f'"updated_at":{json.dumps(updated_at)}}}'
            )
    head = head[:-1] + f',"state":{state_of(conn, pk)},"branches":{json_array(branches)}}}'
    return with_messages(head, bodies)


def export_batch(conn: sqlite3.Connection, cursor: int, limit: int) -> ExportBatch:
    with snapshot(conn):
        heads = conn.execute(
            f"SELECT pk, {EXPORT_JSON}, head_line, message_count FROM sessions "
            "WHERE pk > ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY pk LIMIT ?",
            (cursor, now_ts(), limit),
        ).fetchall()
        if not heads:
            return ExportBatch([], None)
        lines = [export_line(conn, pk, head, line, count) for pk, head, line, count in heads]
    return ExportBatch(lines, heads[-1][0])


def import_sessions(
    conn: sqlite3.Connection,
    prepared: Sequence[tuple[ExportedSession, str]],
    want_summary: bool,
) -> list[ImportOutcome]:
    outcomes: list[ImportOutcome] = []
    with atomic(conn):
        for session, bodies in prepared:
            row = conn.execute(
                f"SELECT pk, message_count, {EXPORT_JSON}, head_line FROM sessions "
                "WHERE session_id = ?",
                (session.session_id,),
            ).fetchone()
            outcome: Literal["added", "replaced", "unchanged"] = "added"
            if row is not None:
                pk, count, head, head_line = row
                if unchanged(export_line(conn, pk, head, head_line, count), session):
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
        parent = places.get(branch.parent) if branch.parent is not None else None
        if branch.parent is not None and parent is None:
            raise InvalidQueryError(
                f"session {session.session_id!r}: a branch's parent entry {branch.parent!r} is "
                "not on the current branch or an earlier one; the line is not an export of a "
                "session's tree"
            )
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
