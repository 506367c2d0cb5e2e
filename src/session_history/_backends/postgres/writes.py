"""Writes on PostgreSQL: single statements where they can be, one transaction otherwise.

The common append is one statement (an ``UPDATE ... RETURNING`` of the session feeding an
``INSERT`` of the messages, :data:`APPEND`): the session extends its line in place, and the
session row's lock makes concurrent appenders in any number of processes queue, each taking the
next depths. Every other write is one transaction that first locks the session's row
(``SELECT ... FOR UPDATE``), so writers of one session serialise, and checks the revision there.

The tree's rules (paths, reachability) are ``tree.py``'s; this module reads the rows they need
and writes what they decide. A removal (:func:`_collect`) also takes a lock on its whole tree (a
transaction-scoped advisory lock keyed by the tree's root), since it reads every session's tips
in the tree and may hand lines from one session to another: two removals in one tree take turns.
It never waits for another session's row while holding that lock, so it cannot deadlock with
their writes, and it only deletes entries that were there when it read the tips (an append to
another session of the tree, which takes no tree lock, keeps what it adds).

Parameters travel as named fields of :class:`SessionRow` and :class:`MessageColumns`, which put
them in each statement's order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import JsonValue

from ..._codec import MESSAGES, json_array
from ..._errors import InvalidQueryError, SessionExistsError, SessionNotFoundError
from ..._models import ChatMessage, Session, SessionSummary, message_counts, utc_now
from ..._search import search_key, search_text
from ..base import AppendResult, BranchTarget, PopResult, PruneResult, SaveResult, WriteContext
from ..shared import PruneRule, check_revision, common_prefix, identified, message_rows
from ..tree import Line, Point, Range, collect, contains, path, point_at, prefix, tail
from .reads import SUMMARY_JSON, read_ranges, summaries, summary, tree_of

if TYPE_CHECKING:
    from .connection import Conn

__all__ = [
    "MessageColumns",
    "Row",
    "SessionRow",
    "append",
    "branch",
    "create",
    "delete",
    "delete_row",
    "fork",
    "insert_messages",
    "insert_session",
    "new_line",
    "pop",
    "prune",
    "save",
    "set_state",
]

# $1-$13: SessionRow.args(); $14-$18: MessageColumns.args(). The session's key and its first
# line's are taken first, so the row names its head and the line its root in one statement.
INSERT_SESSION = """
    WITH ids AS (
        SELECT nextval('sessions_pk_seq') AS pk,
            CASE WHEN cardinality($14::text[]) > 0 THEN nextval('lines_pk_seq') END AS line
    ), new AS (
        INSERT INTO sessions (pk, session_id, agent_name, model, started_at, updated_at,
            ended_at, message_count, turn_count, tool_call_count, usage, metadata, scope,
            expires_at, head_line, grow_line, head_entry)
        SELECT ids.pk, $1, $2, $3, coalesce($4, clock_timestamp()),
            coalesce($5, clock_timestamp()), $6, cardinality($14::text[]), $7, $8, $9::json,
            $10::json, $11, $12, ids.line, ids.line, ($18::text[])[cardinality($18::text[])]
        FROM ids
        ON CONFLICT (session_id) DO NOTHING
        RETURNING pk, head_line
    ), line AS (
        INSERT INTO lines (pk, session_pk, root, parent_line, start)
        SELECT head_line, pk, head_line, NULL, 0 FROM new WHERE head_line IS NOT NULL
    ), messages AS (
        INSERT INTO messages (session_pk, line_pk, seq, entry_id, role, body, search_text,
            search_key)
        SELECT new.pk, new.head_line, m.ord - 1, m.entry_id, m.role, m.body, m.search_text,
            m.search_key
        FROM new, unnest($14::text[], $15::json[], $16::text[], $17::text[], $18::text[])
            WITH ORDINALITY AS m(role, body, search_text, search_key, entry_id, ord)
    ), state AS (
        INSERT INTO session_state (session_pk, key, value)
        SELECT new.pk, st.key, st.value FROM new, unnest($13::text[], $19::json[]) AS st(key, value)
    )
    SELECT pk FROM new
"""

# $1-$5: MessageColumns.args(); $6 the session key; $7 the line; $8 the first depth.
INSERT_MESSAGES = """
    INSERT INTO messages (session_pk, line_pk, seq, entry_id, role, body, search_text, search_key)
    SELECT $6, $7, $8 + m.ord - 1, m.entry_id, m.role, m.body, m.search_text, m.search_key
    FROM unnest($1::text[], $2::json[], $3::text[], $4::text[], $5::text[])
        WITH ORDINALITY AS m(role, body, search_text, search_key, entry_id, ord)
"""

# The common append, in one statement: the session extends its line in place (``grow_line``),
# takes its next depths and updates its summary. A session that must start a line first (new,
# or just branched), one expired or of another scope than the caller's ($12), a revision other
# than the one expected ($11), or (with $14) entries already stored, match no row here and take
# the slower way. $1-$5: MessageColumns.args(); $6 the session id; $7 turns; $8 tool calls;
# $9 usage; $10 the new expiry; $13 now. The UPDATE locks the session row, so a concurrent
# appender waits, then sees the count this one left, and takes the depths after it.
APPEND = """
    WITH s AS (
        UPDATE sessions SET
            message_count = message_count + cardinality($1::text[]),
            turn_count = turn_count + $7, tool_call_count = tool_call_count + $8,
            updated_at = greatest(updated_at, clock_timestamp()),
            usage = CASE WHEN $9::json IS NULL THEN usage ELSE add_usage(usage, $9::json) END,
            revision = revision + 1,
            head_entry = coalesce(($5::text[])[cardinality($5::text[])], head_entry),
            expires_at = coalesce($10, expires_at)
        WHERE session_id = $6 AND grow_line IS NOT NULL AND ($11::int IS NULL OR revision = $11)
            AND (expires_at IS NULL OR expires_at > $13) AND ($12::text IS NULL OR scope = $12)
            AND ($14::bool IS NOT TRUE
                OR NOT EXISTS (SELECT 1 FROM messages WHERE entry_id = ANY ($5::text[])))
        RETURNING pk, grow_line, message_count - cardinality($1::text[]) AS first_seq
    ), inserted AS (
        INSERT INTO messages (session_pk, line_pk, seq, entry_id, role, body, search_text,
            search_key)
        SELECT s.pk, s.grow_line, s.first_seq + m.ord - 1, m.entry_id, m.role, m.body,
            m.search_text, m.search_key
        FROM s, unnest($1::text[], $2::json[], $3::text[], $4::text[], $5::text[])
            WITH ORDINALITY AS m(role, body, search_text, search_key, entry_id, ord)
    )
    SELECT pk FROM s
"""

UPDATE_AFTER_SAVE = """
    UPDATE sessions SET agent_name = $2, model = $3, started_at = coalesce($4, started_at),
        updated_at = greatest(updated_at, clock_timestamp()), ended_at = $5,
        message_count = $6, turn_count = $7, tool_call_count = $8, usage = $9::json,
        metadata = $10::json, scope = $11, expires_at = $12, revision = revision + 1
    WHERE pk = $1
"""

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

NEW_ROOT_LINE = """
    INSERT INTO lines (pk, session_pk, root, parent_line, start)
    SELECT next.pk, $1, coalesce($2, next.pk), NULL, 0
    FROM (SELECT nextval('lines_pk_seq') AS pk) AS next
    RETURNING pk
"""
NEW_LINE = """
    INSERT INTO lines (session_pk, root, parent_line, start)
    SELECT $1, root, pk, $2 FROM lines WHERE pk = $3
    RETURNING pk
"""

# Turns and tool calls of the ranges $1-$3, as ``message_counts`` counts them, from the bodies.
COUNTS = """
    SELECT coalesce(sum((m.role = 'assistant' AND m.body -> 'content' IS NOT NULL)::int), 0),
        coalesce(sum(json_array_length(m.body -> 'tool_calls')), 0)
    FROM unnest($1::bigint[], $2::int[], $3::int[]) AS r(line, lo, hi)
    JOIN messages AS m ON m.line_pk = r.line AND m.seq BETWEEN r.lo AND r.hi
"""

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
SHARED = """
    SELECT forked_from IS NOT NULL
        OR EXISTS (SELECT 1 FROM sessions AS f WHERE f.forked_from = s.session_id)
    FROM sessions AS s WHERE pk = $1
"""
# One line of each tree the session has an entry or a tip in.
TREES_OF = """
    SELECT DISTINCT ON (root) pk FROM lines WHERE pk IN (
        SELECT head_line FROM sessions WHERE pk = $1 AND head_line IS NOT NULL
        UNION SELECT line_pk FROM branches WHERE session_pk = $1
        UNION SELECT pk FROM lines WHERE session_pk = $1)
"""


def _text(value: str, what: str) -> str:
    if "\x00" in value:
        # A text column cannot hold U+0000 (JSON bodies can: they keep it escaped).
        raise InvalidQueryError(
            f"the session's {what} contains the NUL character (U+0000), which PostgreSQL cannot "
            "store in text; remove it"
        )
    return value


def _state_columns(state: Mapping[str, JsonValue]) -> tuple[list[str], list[str], list[str]]:
    """``(keys set, their values as JSON, keys removed)``: a key given None is removed."""
    keys = [_text(k, "state key") for k, v in state.items() if v is not None]
    values = [
        json.dumps(v, ensure_ascii=False, allow_nan=False) for v in state.values() if v is not None
    ]
    return keys, values, [k for k, v in state.items() if v is None]


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A session's own columns, as the statements above take them."""

    session_id: str
    agent_name: str
    model: str
    started_at: datetime | None
    updated_at: datetime | None
    ended_at: datetime | None
    turns: int
    tool_calls: int
    usage: str | None
    metadata: str
    scope: str | None
    expires_at: datetime | None
    state_keys: list[str]
    state_values: list[str]

    @classmethod
    def of(cls, session: Session, updated_at: datetime | None = None) -> SessionRow:
        turns, tool_calls = message_counts(session.messages)
        keys, values, _ = _state_columns(session.state)
        return cls(
            session_id=_text(session.session_id, "id"),
            agent_name=_text(session.agent_name, "agent name"),
            model=_text(session.model, "model"),
            started_at=session.started_at,
            updated_at=updated_at,
            ended_at=session.ended_at,
            turns=turns,
            tool_calls=tool_calls,
            usage=session.usage.model_dump_json() if session.usage else None,
            metadata=json.dumps(session.metadata, ensure_ascii=False),
            scope=_text(session.scope, "scope") if session.scope is not None else None,
            expires_at=session.expires_at,
            state_keys=keys,
            state_values=values,
        )

    def args(self) -> tuple[object, ...]:
        """$1-$13 of INSERT_SESSION (and, from $2 to $12, UPDATE_AFTER_SAVE's order)."""
        return (
            self.session_id,
            self.agent_name,
            self.model,
            self.started_at,
            self.updated_at,
            self.ended_at,
            self.turns,
            self.tool_calls,
            self.usage,
            self.metadata,
            self.scope,
            self.expires_at,
            self.state_keys,
        )


@dataclass(frozen=True, slots=True)
class MessageColumns:
    """Messages (each with its entry id) as five parallel arrays (one ``unnest`` inserts them
    all)."""

    roles: list[str]
    bodies: list[str]
    texts: list[str]
    keys: list[str]
    """What the ``tsvector`` is made of: the text's tokens (see ``_search.search_key``)."""
    entry_ids: list[str]

    @classmethod
    def of(cls, messages: Sequence[ChatMessage]) -> MessageColumns:
        rows = message_rows(messages)
        # Text columns cannot hold U+0000: the searchable copies read it as a space.
        texts = [search_text(message).replace("\x00", " ") for message in messages]
        return cls(
            [row.role for row in rows],
            [row.body for row in rows],
            texts,
            [search_key(text) for text in texts],
            [row.entry_id for row in rows],
        )

    def __len__(self) -> int:
        return len(self.roles)

    def since(self, first: int) -> MessageColumns:
        return MessageColumns(
            self.roles[first:],
            self.bodies[first:],
            self.texts[first:],
            self.keys[first:],
            self.entry_ids[first:],
        )

    def __add__(self, more: MessageColumns) -> MessageColumns:
        return MessageColumns(
            self.roles + more.roles,
            self.bodies + more.bodies,
            self.texts + more.texts,
            self.keys + more.keys,
            self.entry_ids + more.entry_ids,
        )

    def args(self) -> tuple[object, ...]:
        return (self.roles, self.bodies, self.texts, self.keys, self.entry_ids)


def _duplicate(exc: Exception) -> InvalidQueryError:
    return InvalidQueryError(
        "an entry id of these messages is already stored in this session on another "
        "branch (or twice among them); give each message an id of its own, or none"
    )


def _is_duplicate_entry(exc: Exception) -> bool:
    import asyncpg

    return isinstance(exc, asyncpg.UniqueViolationError) and "entry_id" in str(
        getattr(exc, "constraint_name", "") or ""
    )


async def insert_session(conn: Conn, row: SessionRow, columns: MessageColumns) -> int | None:
    """Insert a session, its messages (a line of their own) and its state; ``None`` when the
    id is taken."""
    try:
        pk: int | None = await conn.fetchval(
            INSERT_SESSION, *row.args(), *columns.args(), row.state_values
        )
    except Exception as exc:
        if _is_duplicate_entry(exc):
            raise _duplicate(exc) from exc
        raise
    return pk


async def insert_messages(
    conn: Conn, session_pk: int, line: int, first_seq: int, columns: MessageColumns
) -> None:
    """Insert messages in order on ``line`` from depth ``first_seq``."""
    try:
        await conn.execute(INSERT_MESSAGES, *columns.args(), session_pk, line, first_seq)
    except Exception as exc:
        if _is_duplicate_entry(exc):
            raise _duplicate(exc) from exc
        raise


async def new_line(
    conn: Conn, session_pk: int, parent: int | None, start: int, root: int | None
) -> int:
    """A new line of ``session_pk`` from depth ``start``, after ``parent`` (None: a first line,
    in tree ``root``, or a tree of its own)."""
    if parent is None:
        line = await conn.fetchval(NEW_ROOT_LINE, session_pk, root)
    else:
        line = await conn.fetchval(NEW_LINE, session_pk, start, parent)
    return int(line)


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
    updated_at: datetime
    scope: str | None
    expires_at: datetime | None

    @property
    def head(self) -> Point | None:
        return Point(self.head_line, self.count - 1) if self.head_line is not None else None

    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= utc_now()

    def missing_to(self, scope: str | None) -> bool:
        """Whether the session reads as missing to a caller of ``scope``."""
        return self.expired() or (scope is not None and self.scope != scope)


async def _lock(conn: Conn, session_id: str) -> Row | None:
    """The session's row, locked until the transaction ends (whatever its scope or expiry)."""
    found = await conn.fetchrow(ROW, session_id)
    return Row(*found) if found is not None else None


async def _lock_for_write(conn: Conn, session_id: str, context: WriteContext) -> Row:
    row = await _lock(conn, session_id)
    if row is None or row.missing_to(context.scope):
        raise SessionNotFoundError(session_id, scope=context.scope)
    check_revision(session_id, context.expected_revision, row.revision)
    return row


async def _tips(conn: Conn, session_pk: int) -> list[Point]:
    rows = await conn.fetch("SELECT line_pk, seq FROM branches WHERE session_pk = $1", session_pk)
    return [Point(r[0], r[1]) for r in rows]


async def _some_line(conn: Conn, row: Row) -> int | None:
    """A line of the session's tree: its head's, else a branch's (None: it has no entries)."""
    if row.head_line is not None:
        return row.head_line
    found = await conn.fetchval(
        "SELECT line_pk FROM branches WHERE session_pk = $1 LIMIT 1", row.pk
    )
    return int(found) if found is not None else None


async def _root(conn: Conn, line: int) -> int:
    return int(await conn.fetchval("SELECT root FROM lines WHERE pk = $1", line))


async def _write_state(conn: Conn, pk: int, state: Mapping[str, JsonValue]) -> None:
    """Merge ``state`` into the session's: a key given None is removed."""
    keys, values, gone = _state_columns(state)
    if gone:
        await conn.execute(
            "DELETE FROM session_state WHERE session_pk = $1 AND key = ANY ($2::text[])", pk, gone
        )
    if keys:
        await conn.execute(
            "INSERT INTO session_state (session_pk, key, value) "
            "SELECT $1, k, v FROM unnest($2::text[], $3::json[]) AS t(k, v) "
            "ON CONFLICT (session_pk, key) DO UPDATE SET value = excluded.value",
            pk,
            keys,
            values,
        )


async def _path_of(conn: Conn, head: Point | None) -> list[Range]:
    if head is None:
        return []
    return path(await tree_of(conn, head.line), head)


def _range_columns(ranges: Sequence[Range]) -> tuple[list[int], list[int], list[int]]:
    return [r.line for r in ranges], [r.lo for r in ranges], [r.hi for r in ranges]


async def _entry_at(conn: Conn, point: Point) -> str:
    return str(
        await conn.fetchval(
            "SELECT entry_id FROM messages WHERE line_pk = $1 AND seq = $2", point.line, point.seq
        )
    )


async def _grow_line(conn: Conn, session_pk: int, head: Point | None) -> int | None:
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


async def _recount(conn: Conn, ranges: Sequence[Range]) -> tuple[int, int]:
    if not ranges:
        return 0, 0
    found = await conn.fetchrow(COUNTS, *_range_columns(ranges))
    assert found is not None
    return int(found[0]), int(found[1])


async def _cut(conn: Conn, row: Row, ranges: Sequence[Range], keep: int) -> Row:
    """Move the head back to keep the first ``keep`` messages of the path ``ranges`` and remove
    what no tip reaches any longer; the session row as it is after."""
    bodies = await read_ranges(conn, tail(ranges, row.count - keep))
    turns, tool_calls = message_counts(MESSAGES.validate_json(json_array(bodies)))
    head = point_at(ranges, keep - 1)
    entry = await _entry_at(conn, head) if head is not None else None
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
        await _collect(conn, row.head_line)
    grow = await _grow_line(conn, row.pk, head)
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


async def _collect(conn: Conn, line: int, *, leaving: int | None = None) -> None:
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


async def create(
    conn: Conn, row: SessionRow, columns: MessageColumns, want_summary: bool
) -> SessionSummary | None:
    pk = await insert_session(conn, row, columns)  # the common case: one statement
    async with conn.transaction():
        while pk is None:
            found = await _lock(conn, row.session_id)
            if found is not None and not found.expired():
                raise SessionExistsError(row.session_id)
            if found is not None:
                await delete_row(conn, row.session_id)  # an expired one, gone for every reader
            pk = await insert_session(conn, row, columns)  # None: taken again meanwhile
    return await summary(conn, pk) if want_summary else None


async def save(
    conn: Conn,
    session: Session,
    ids: Sequence[str],
    row: SessionRow,
    want_summary: bool,
) -> SaveResult:
    """Store ``session``: the messages it shares with the stored current branch from the first
    stay (with their ids), the rest of that branch is popped, and the others are appended.
    ``ids`` are the entry ids the messages get if new."""
    given = session.messages
    with_ids = identified(given, ids)
    async with conn.transaction():
        while True:
            found = await _lock(conn, session.session_id)
            if found is not None and not found.expired():
                break
            if found is not None:
                await delete_row(conn, session.session_id)
            pk = await insert_session(conn, row, MessageColumns.of(with_ids))
            if pk is not None:
                return SaveResult(await summary(conn, pk) if want_summary else None, with_ids)
            # Another writer inserted this id meanwhile, and committed: lock its row.
        ranges = await _path_of(conn, found.head)
        keep = common_prefix(await read_ranges(conn, ranges), given)
        kept = found
        if keep < found.count:
            kept = await _cut(conn, found, ranges, keep)
        written = with_ids[keep:]
        if written:
            line = kept.grow_line
            if line is None:
                some = await _some_line(conn, kept)
                root = await _root(conn, some) if some is not None else None
                line = await new_line(conn, found.pk, kept.head_line, keep, root)
            await insert_messages(conn, found.pk, line, keep, MessageColumns.of(written))
            await conn.execute(
                "UPDATE sessions SET head_line = $1, grow_line = $1, head_entry = $2 WHERE pk = $3",
                line,
                written[-1].entry_id,
                found.pk,
            )
        await conn.execute(
            UPDATE_AFTER_SAVE,
            found.pk,
            row.agent_name,
            row.model,
            row.started_at,
            row.ended_at,
            len(given),
            row.turns,
            row.tool_calls,
            row.usage,
            row.metadata,
            row.scope,
            row.expires_at,
        )
        if session.state:
            await _write_state(conn, found.pk, session.state)
        return SaveResult(await summary(conn, found.pk) if want_summary else None, written)


async def _already_stored(conn: Conn, row: Row, ids: Sequence[str]) -> bool:
    """Whether an append of entries ``ids`` was made already (a retry whose first try committed):
    True when all are on the session's path; an error when only some are."""
    found = await conn.fetch(
        "SELECT entry_id, line_pk, seq FROM messages WHERE entry_id = ANY ($1::text[])", list(ids)
    )
    if not found or row.head is None:
        return False
    ranges = await _path_of(conn, row.head)
    on_path = {r[0] for r in found if contains(ranges, Point(r[1], r[2]))}
    if not on_path:
        return False
    if on_path >= set(ids):
        return True
    raise InvalidQueryError(
        f"{len(on_path)} of these {len(ids)} messages are stored in this session already and "
        "the others are not: an append stores all of its messages or none, so this is not a "
        "retry of one; give the new messages ids of their own"
    )


async def append(
    conn: Conn,
    session_id: str,
    columns: MessageColumns,
    turns: int,
    tool_calls: int,
    usage: str | None,
    create: tuple[SessionRow, MessageColumns] | None,
    context: WriteContext,
    state: Mapping[str, JsonValue] | None,
    retry_check: bool,
    want_summary: bool,
) -> AppendResult:
    def fast(expected: int | None, scope: str | None, check: bool) -> tuple[object, ...]:
        return (
            *columns.args(),
            session_id,
            turns,
            tool_calls,
            usage,
            context.expires_at,
            expected,
            scope,
            utc_now(),
            check,
        )

    if not state:
        # No transaction: the statement is whole on its own, and the common case (the session
        # can grow its line) stays one round trip.
        try:
            pk = await conn.fetchval(
                APPEND, *fast(context.expected_revision, context.scope, retry_check)
            )
        except Exception as exc:
            if not _is_duplicate_entry(exc):
                raise
            if not retry_check:
                raise _duplicate(exc) from exc
            pk = None  # a retry that raced its first try: the slow way tells which it is
        if pk is not None:
            return AppendResult(await summary(conn, pk) if want_summary else None, False)
    async with conn.transaction():
        while True:
            row = await _lock(conn, session_id)
            if row is not None and not row.expired():
                break
            if create is None:
                raise SessionNotFoundError(session_id, scope=context.scope)
            if row is not None:
                await delete_row(conn, session_id)
            created = await insert_session(conn, *create)
            if created is not None:
                return AppendResult(await summary(conn, created) if want_summary else None, True)
            # Another writer created it meanwhile, and committed: lock its row.
        if context.scope is not None and row.scope != context.scope:
            # Another owner's session: missing to this caller, and its id is taken.
            if create is not None:
                raise SessionExistsError(session_id)
            raise SessionNotFoundError(session_id, scope=context.scope)
        if retry_check and await _already_stored(conn, row, columns.entry_ids):
            return AppendResult(await summary(conn, row.pk) if want_summary else None, False, False)
        check_revision(session_id, context.expected_revision, row.revision)
        pk = None
        if row.grow_line is not None:
            try:
                pk = await conn.fetchval(APPEND, *fast(None, None, False))
            except Exception as exc:
                if _is_duplicate_entry(exc):
                    raise _duplicate(exc) from exc
                raise
        if pk is None:
            await _append_on_new_line(conn, row, columns, turns, tool_calls, usage, context)
        if state:
            await _write_state(conn, row.pk, state)
        return AppendResult(await summary(conn, row.pk) if want_summary else None, False)


async def _append_on_new_line(
    conn: Conn,
    row: Row,
    columns: MessageColumns,
    turns: int,
    tool_calls: int,
    usage: str | None,
    context: WriteContext,
) -> None:
    """The append of a session that cannot extend a line in place: one is started after the
    head (a first line when the session is empty). An append of no messages (usage only)
    needs none, and changes the rest as any append does."""
    if usage is not None:
        await conn.execute(
            "UPDATE sessions SET usage = add_usage(usage, $1::json) WHERE pk = $2", usage, row.pk
        )
    ids = columns.entry_ids
    if not ids:
        await conn.execute(
            "UPDATE sessions SET updated_at = greatest(updated_at, clock_timestamp()), "
            "revision = revision + 1, expires_at = coalesce($1, expires_at) WHERE pk = $2",
            context.expires_at,
            row.pk,
        )
        return
    if row.head_line is None:
        some = await _some_line(conn, row)
        root = await _root(conn, some) if some is not None else None
        line = await new_line(conn, row.pk, None, 0, root)
    else:
        line = await new_line(conn, row.pk, row.head_line, row.count, None)
    await insert_messages(conn, row.pk, line, row.count, columns)
    await conn.execute(
        MOVE_HEAD,
        row.pk,
        row.count + len(ids),
        row.turns + turns,
        row.tool_calls + tool_calls,
        line,
        line,
        ids[-1],
        context.expires_at,
    )


async def pop(
    conn: Conn, session_id: str, n: int, context: WriteContext, want_summary: bool
) -> PopResult:
    async with conn.transaction():
        # The row lock makes concurrent appends and pops on this session queue.
        row = await _lock(conn, session_id)
        if row is None or row.missing_to(context.scope):
            return PopResult([], None)
        check_revision(session_id, context.expected_revision, row.revision)
        if row.count == 0:
            return PopResult([], None)
        ranges = await _path_of(conn, row.head)
        keep = max(row.count - n, 0)
        popped = MESSAGES.validate_json(
            json_array(await read_ranges(conn, tail(ranges, row.count - keep)))
        )
        await _cut(conn, row, ranges, keep)
        if context.expires_at is not None:
            await conn.execute(
                "UPDATE sessions SET expires_at = $1 WHERE pk = $2", context.expires_at, row.pk
            )
        return PopResult(popped, await summary(conn, row.pk) if want_summary else None)


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
        ranges = await _path_of(conn, row.head)
        return point_at(ranges, at - 1), prefix(ranges, at)
    places = await conn.fetch(
        "SELECT line_pk, seq FROM messages WHERE entry_id = $1", target.from_entry
    )
    tips = [row.head, *await _tips(conn, row.pk)] if places else []
    for line, seq in places:
        point = Point(line, seq)
        for tip in tips:
            if tip is not None and contains(await _path_of(conn, tip), point):
                return point, path(await tree_of(conn, line), point)
    raise InvalidQueryError(
        f"entry {target.from_entry!r} is not in session {session_id!r} (on its current branch "
        "or another); list its entries with load_messages or its branches with list_branches"
    )


async def branch(
    conn: Conn, session_id: str, target: BranchTarget, context: WriteContext
) -> SessionSummary:
    async with conn.transaction():
        row = await _lock_for_write(conn, session_id, context)
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
    left = [tip for tip in await _tips(conn, row.pk) if contains(ranges, tip)]
    if left:
        await conn.execute(
            "DELETE FROM branches AS b USING unnest($2::bigint[], $3::int[]) AS t(line, seq) "
            "WHERE b.session_pk = $1 AND b.line_pk = t.line AND b.seq = t.seq",
            row.pk,
            [tip.line for tip in left],
            [tip.seq for tip in left],
        )
    turns, tool_calls = await _recount(conn, ranges)
    await conn.execute(
        MOVE_HEAD,
        row.pk,
        point.seq + 1 if point is not None else 0,
        turns,
        tool_calls,
        point.line if point is not None else None,
        await _grow_line(conn, row.pk, point),
        await _entry_at(conn, point) if point is not None else None,
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
    _text(new_id, "id")
    async with conn.transaction():
        # The source's row lock keeps its tips (which reach the fork's point) where they are.
        row = await _lock(conn, source_id)
        if row is None or row.missing_to(source_scope):
            raise SessionNotFoundError(source_id, scope=source_scope)
        taken = await _lock(conn, new_id)
        if taken is not None and not taken.expired():
            raise SessionExistsError(new_id)
        if taken is not None:
            await delete_row(conn, new_id)
        point, ranges = await _target(conn, source_id, row, target)
        turns, tool_calls = await _recount(conn, ranges)
        entry = await _entry_at(conn, point) if point is not None else None
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
            _text(scope, "scope") if scope is not None else None,
            expires_at,
            point.line if point is not None else None,
            entry,
            source_id,
            row.pk,
        )
        if pk is None:  # another writer made it meanwhile
            raise SessionExistsError(new_id)
        return await summary(conn, pk)


async def set_state(
    conn: Conn, session_id: str, state: Mapping[str, JsonValue], context: WriteContext
) -> SessionSummary:
    async with conn.transaction():
        row = await _lock_for_write(conn, session_id, context)
        await _write_state(conn, row.pk, state)
        await conn.execute(
            "UPDATE sessions SET revision = revision + 1, "
            "updated_at = greatest(updated_at, clock_timestamp()), "
            "expires_at = coalesce($1, expires_at) WHERE pk = $2",
            context.expires_at,
            row.pk,
        )
        return await summary(conn, row.pk)


async def _delete_locked(conn: Conn, pk: int) -> None:
    """Delete a session whose row this transaction has locked, leaving every fork whole: the
    lines other sessions still reach pass to one of them, the rest goes with the row."""
    # After the lock, in a statement of its own: a fork made meanwhile (it locked this row to
    # make it) has committed, and this statement sees it.
    if await conn.fetchval(SHARED, pk):
        for (line,) in await conn.fetch(TREES_OF, pk):
            await _collect(conn, line, leaving=pk)
    await conn.execute("DELETE FROM sessions WHERE pk = $1", pk)


async def delete_row(conn: Conn, session_id: str) -> bool:
    """Delete the session's row whatever its state, in the caller's transaction."""
    row = await _lock(conn, session_id)
    if row is None:
        return False
    await _delete_locked(conn, row.pk)
    return True


async def delete(conn: Conn, session_id: str, scope: str | None) -> bool:
    async with conn.transaction():
        row = await _lock(conn, session_id)
        if row is None or (scope is not None and row.missing_to(scope)):
            return False
        await _delete_locked(conn, row.pk)
        return True


async def prune(conn: Conn, rules: Sequence[PruneRule], dry_run: bool) -> list[PruneResult]:
    results: list[PruneResult] = []
    async with conn.transaction():
        for rule in rules:
            rows = await conn.fetch(
                f"SELECT pk, xmin, forked_from IS NOT NULL OR EXISTS (SELECT 1 FROM sessions "
                f"AS f WHERE f.forked_from = sessions.session_id), {SUMMARY_JSON} "
                f"FROM sessions {rule.selection}",
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
                            await _delete_locked(conn, r[0])
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
