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
from dataclasses import dataclass
from datetime import datetime

from pydantic import JsonValue

from ..._codec import MESSAGES, json_array, messages_array
from ..._errors import InvalidQueryError, SessionExistsError, SessionNotFoundError
from ..._models import ChatMessage, Session, SessionSummary, Usage, message_counts
from ..base import AppendResult, BranchTarget, PopResult, PruneResult, SaveResult, WriteContext
from ..shared import (
    MessageRow,
    PruneRule,
    check_revision,
    common_prefix,
    format_ts,
    identified,
    message_rows,
    now_ts,
)
from ..tree import Line, Point, Range, collect, contains, path, point_at, prefix, tail
from .connection import atomic, snapshot
from .index import forgotten, rebuild_later, unindex
from .reads import LINES_OF_TREE, read_ranges, summaries, summary

__all__ = [
    "Bodies",
    "Row",
    "append",
    "bodies_of",
    "branch",
    "create",
    "delete",
    "fork",
    "insert_session",
    "locate",
    "pop",
    "prune",
    "register",
    "save",
    "set_state",
    "stored_bodies",
    "tree_of",
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
        revision = revision + 1, head_entry = coalesce(?7, head_entry),
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
NEW_ROOT_LINE = """
    INSERT INTO lines (pk, session_pk, root, parent_line, start)
    SELECT next, ?1, coalesce(?2, next), NULL, 0
    FROM (SELECT coalesce(max(pk), 0) + 1 AS next FROM lines)
"""
NEW_LINE = """
    INSERT INTO lines (session_pk, root, parent_line, start)
    SELECT ?1, root, pk, ?2 FROM lines WHERE pk = ?3
"""
# Turns and tool calls of a path, as ``message_counts`` counts them, read from the bodies.
COUNTS = (
    "SELECT coalesce(sum(role = 'assistant' AND body -> '$.content' IS NOT NULL), 0), "
    "coalesce(sum(json_array_length(body, '$.tool_calls')), 0) FROM messages WHERE "
)


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


def _count(rows: Bodies) -> int:
    return len(json.loads(rows)) if isinstance(rows, str) else len(rows)


def _last_id(rows: Bodies) -> str | None:
    if isinstance(rows, str):
        items = json.loads(rows)
        return str(items[-1]["entry_id"]) if items else None
    return rows[-1].entry_id if rows else None


def _insert_messages(
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


def _ts(value: datetime | None) -> str | None:
    return format_ts(value) if value is not None else None


def _columns(session: Session, started_at: str | None, updated_at: str) -> tuple[object, ...]:
    """The session row's columns from ``agent_name`` to ``expires_at``, as INSERT_SESSION and
    UPDATE_AFTER_SAVE take them."""
    turns, tool_calls = message_counts(session.messages)
    return (
        session.agent_name,
        session.model,
        started_at,
        updated_at,
        _ts(session.ended_at),
        len(session.messages),
        turns,
        tool_calls,
        session.usage.model_dump_json() if session.usage else None,
        json.dumps(session.metadata, ensure_ascii=False),
        session.scope,
        _ts(session.expires_at),
    )


def _new_line(
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
    columns = _columns(session, _ts(session.started_at) or now, _ts(updated_at) or now)
    cursor = conn.execute(INSERT_SESSION, (session.session_id, *columns))
    pk = cursor.lastrowid
    assert pk is not None
    if session.messages:
        line = _new_line(conn, pk, None, 0, None)
        _insert_messages(conn, pk, line, 0, rows)
        conn.execute(
            "UPDATE sessions SET head_line = ?1, grow_line = ?1, head_entry = ?2 WHERE pk = ?3",
            (line, _last_id(rows), pk),
        )
    if session.state:
        _write_state(conn, pk, session.state)
    return pk


@dataclass(frozen=True, slots=True)
class Row:
    """The columns of a session row the tree's writes work with."""

    pk: int
    count: int
    turns: int
    tool_calls: int
    head_line: int | None
    grow_line: int | None
    head_entry: str | None
    revision: int
    updated_at: str
    scope: str | None
    expires_at: str | None

    @property
    def head(self) -> Point | None:
        return Point(self.head_line, self.count - 1) if self.head_line is not None else None

    def expired(self, now: str) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def locate(conn: sqlite3.Connection, session_id: str, scope: str | None = None) -> Row | None:
    """The session's row, if it is there for the caller: not expired, and of ``scope``."""
    found = conn.execute(ROW, (session_id,)).fetchone()
    if found is None:
        return None
    row = Row(*found)
    if row.expired(now_ts()) or (scope is not None and row.scope != scope):
        return None
    return row


def _locate_for_write(conn: sqlite3.Connection, session_id: str, context: WriteContext) -> Row:
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


def _tips(conn: sqlite3.Connection, session_pk: int) -> list[Point]:
    return [
        Point(line, seq)
        for line, seq in conn.execute(
            "SELECT line_pk, seq FROM branches WHERE session_pk = ?", (session_pk,)
        )
    ]


def _some_line(conn: sqlite3.Connection, row: Row) -> int | None:
    """A line of the session's tree: its head's, else a branch's (None: it has no entries)."""
    if row.head_line is not None:
        return row.head_line
    found = conn.execute(
        "SELECT line_pk FROM branches WHERE session_pk = ? LIMIT 1", (row.pk,)
    ).fetchone()
    return int(found[0]) if found else None


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
        _delete_row(conn, session.session_id)  # an expired one, gone for every reader
        pk = insert_session(conn, session, rows)
        return summary(conn, pk) if want_summary else None


def stored_bodies(conn: sqlite3.Connection, pk: int) -> list[str]:
    """The bodies of the session's current branch, in order."""
    row = conn.execute(
        "SELECT head_line, message_count FROM sessions WHERE pk = ?", (pk,)
    ).fetchone()
    if row is None or row[0] is None:
        return []
    return [body for (body,) in read_ranges(conn, _path_of(conn, Point(row[0], row[1] - 1)))]


def _path_of(conn: sqlite3.Connection, head: Point | None) -> list[Range]:
    if head is None:
        return []
    return path(tree_of(conn, head.line), head)


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
            _delete_row(conn, session.session_id)
            with_ids = identified(given, ids)
            pk = insert_session(conn, session, message_rows(with_ids))
            return SaveResult(summary(conn, pk) if want_summary else None, with_ids)
        ranges = _path_of(conn, row.head)
        stored = [body for (body,) in read_ranges(conn, ranges)]
        keep = common_prefix(stored, given)
        kept = row
        if keep < row.count:
            kept = _cut(conn, row, ranges, keep)
        new = message_rows(identified(given[keep:], ids[keep:]))
        if new:
            line = kept.grow_line
            if line is None:
                root_line = _some_line(conn, kept)
                root = _root(conn, root_line) if root_line is not None else None
                line = _new_line(conn, row.pk, kept.head_line, keep, root)
            _insert_messages(conn, row.pk, line, keep, new)
            conn.execute(
                "UPDATE sessions SET head_line = ?1, grow_line = ?1, head_entry = ?2 WHERE pk = ?3",
                (line, new[-1].entry_id, row.pk),
            )
        columns = _columns(session, _ts(session.started_at), now_ts())
        conn.execute(UPDATE_AFTER_SAVE, (*columns, row.pk))
        if session.state:
            _write_state(conn, row.pk, session.state)
        written = [
            m.model_copy(update={"entry_id": r.entry_id})
            for m, r in zip(session.messages[keep:], new, strict=True)
        ]
        return SaveResult(summary(conn, row.pk) if want_summary else None, written)


def _root(conn: sqlite3.Connection, line: int) -> int:
    (root,) = conn.execute("SELECT root FROM lines WHERE pk = ?", (line,)).fetchone()
    return int(root)


def _already_stored(conn: sqlite3.Connection, row: Row, ids: Sequence[str]) -> bool:
    """Whether an append of entries ``ids`` was made already (a retry whose first try committed):
    True when all are on the session's path; an error when only some are."""
    marks = ",".join("?" * len(ids))
    found = conn.execute(
        f"SELECT entry_id, line_pk, seq FROM messages WHERE entry_id IN ({marks})", tuple(ids)
    ).fetchall()
    if not found or row.head is None:
        return False
    ranges = _path_of(conn, row.head)
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
                _ts(context.expires_at),
                context.expected_revision,
                context.scope,
            ),
        ).fetchone()
        if found is not None:
            pk, first_seq, line = found
            _insert_messages(conn, pk, line, first_seq, rows)
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
                _delete_row(conn, session_id)
                pk = insert_session(conn, *create)
                return AppendResult(summary(conn, pk) if want_summary else None, True)
            check_revision(session_id, context.expected_revision, row.revision)
            pk = row.pk
            _append_on_new_line(conn, row, rows, ids, turns, tool_calls, usage, now, context)
        if state:
            _write_state(conn, pk, state)
        return AppendResult(summary(conn, pk) if want_summary else None, False)


def _append_on_new_line(
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
            (now, _ts(context.expires_at), row.pk),
        )
        return
    if row.head_line is None:
        some = _some_line(conn, row)
        line = _new_line(conn, row.pk, None, 0, _root(conn, some) if some is not None else None)
    else:
        line = _new_line(conn, row.pk, row.head_line, row.count, None)
    _insert_messages(conn, row.pk, line, row.count, rows)
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
            _ts(context.expires_at),
            row.pk,
        ),
    )


def _entry_at(conn: sqlite3.Connection, point: Point) -> str:
    (entry,) = conn.execute(
        "SELECT entry_id FROM messages WHERE line_pk = ? AND seq = ?", (point.line, point.seq)
    ).fetchone()
    return str(entry)


def _grow_line(conn: sqlite3.Connection, session_pk: int, head: Point | None) -> int | None:
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


def _cut(conn: sqlite3.Connection, row: Row, ranges: Sequence[Range], keep: int) -> Row:
    """Move the head back to keep the first ``keep`` messages of the path ``ranges`` and remove
    what no tip reaches any longer; the session row as it is after. Returns the new row."""
    popped = tail(ranges, row.count - keep)
    bodies = [body for (body,) in read_ranges(conn, popped)]
    turns, tool_calls = message_counts(MESSAGES.validate_json(json_array(bodies)))
    head = point_at(ranges, keep - 1)
    entry = _entry_at(conn, head) if head is not None else None
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
        _collect(conn, row.head_line)
    grow = _grow_line(conn, row.pk, head)
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


def _collect(conn: sqlite3.Connection, line: int, *, leaving: int | None = None) -> None:
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
        ranges = _path_of(conn, row.head)
        keep = max(row.count - n, 0)
        popped = MESSAGES.validate_json(
            json_array(body for (body,) in read_ranges(conn, tail(ranges, row.count - keep)))
        )
        _cut(conn, row, ranges, keep)
        if context.expires_at is not None:
            conn.execute(
                "UPDATE sessions SET expires_at = ? WHERE pk = ?",
                (_ts(context.expires_at), row.pk),
            )
        return PopResult(popped, summary(conn, row.pk) if want_summary else None)


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
        ranges = _path_of(conn, row.head)
        return point_at(ranges, at - 1), prefix(ranges, at)
    for line, seq in conn.execute(
        "SELECT line_pk, seq FROM messages WHERE entry_id = ?", (target.from_entry,)
    ).fetchall():
        point = Point(line, seq)
        for tip in [row.head, *_tips(conn, row.pk)]:
            if tip is None:
                continue
            tip_path = _path_of(conn, tip)
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
        row = _locate_for_write(conn, session_id, context)
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
    for tip in _tips(conn, row.pk):
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
            _grow_line(conn, row.pk, point),
            _entry_at(conn, point) if point is not None else None,
            now_ts(),
            _ts(context.expires_at),
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
        _delete_row(conn, new_id)
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
                _ts(expires_at),
                point.line if point is not None else None,
                _entry_at(conn, point) if point is not None else None,
                source_id,
                _entry_at(conn, point) if point is not None else None,
            ),
        )
        pk = cursor.lastrowid
        assert pk is not None
        return summary(conn, pk)


def set_state(
    conn: sqlite3.Connection,
    session_id: str,
    state: Mapping[str, JsonValue],
    context: WriteContext,
) -> SessionSummary:
    with atomic(conn):
        row = _locate_for_write(conn, session_id, context)
        _write_state(conn, row.pk, state)
        conn.execute(
            "UPDATE sessions SET revision = revision + 1, updated_at = max(updated_at, ?), "
            "expires_at = coalesce(?, expires_at) WHERE pk = ?",
            (now_ts(), _ts(context.expires_at), row.pk),
        )
        return summary(conn, row.pk)


def _delete_row(conn: sqlite3.Connection, session_id: str) -> bool:
    """Delete the session's row whatever its state, leaving every fork whole: the lines other
    sessions still reach pass to one of them, the rest goes with the row."""
    found = conn.execute(
        "SELECT pk, forked_from IS NOT NULL OR EXISTS (SELECT 1 FROM sessions AS f "
        "WHERE f.forked_from = sessions.session_id) FROM sessions WHERE session_id = ?",
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
        roots = {_root(conn, line): line for line in lines}
        for line in roots.values():
            _collect(conn, line, leaving=pk)
    unindex(conn, "session_pk = ?", (pk,))
    conn.execute("DELETE FROM sessions WHERE pk = ?", (pk,))
    forgotten(conn)
    return True


def delete(conn: sqlite3.Connection, session_id: str, scope: str | None) -> bool:
    with atomic(conn):
        if scope is not None and locate(conn, session_id, scope) is None:
            return False
        return _delete_row(conn, session_id)


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
                        f"SELECT session_id FROM sessions WHERE pk IN ({chosen}) AND "
                        "(forked_from IS NOT NULL OR session_id IN (SELECT forked_from FROM "
                        "sessions WHERE forked_from IS NOT NULL))",
                        rule.params,
                    )
                ]
                for session_id in shared:
                    _delete_row(conn, session_id)
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
