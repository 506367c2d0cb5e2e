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

from ..._errors import InvalidQueryError, SessionExistsError, SessionNotFoundError
from ..._models import ChatMessage, Session, SessionSummary, message_counts, utc_now
from ..._search import search_key, search_text
from ..base import AppendResult, SaveResult, WriteContext
from ..shared import check_revision, common_prefix, identified, message_rows
from ..tree import Point, contains
from .reads import read_ranges, summary
from .removal import cut, delete_row
from .rows import MOVE_HEAD, Row, lock, lock_for_write, path_of, root_of, some_line

if TYPE_CHECKING:
    from .connection import Conn

__all__ = [
    "MessageColumns",
    "SessionRow",
    "append",
    "checked_text",
    "create",
    "insert_messages",
    "insert_session",
    "new_line",
    "save",
    "set_state",
    "write_state",
]

# $1-$13: SessionRow.args(); $14-$18: MessageColumns.args(). The session's key and its first
# line's are taken first, so the row names its head and the line its root in one statement.
INSERT_SESSION = """
    WITH ids AS (
        SELECT nextval('sessions_pk_seq') AS pk, nextval('lines_pk_seq') AS line
    ), new AS (
        INSERT INTO sessions (pk, session_id, agent_name, model, started_at, updated_at,
            ended_at, message_count, turn_count, tool_call_count, usage, metadata, scope,
            expires_at, head_line, grow_line, head_entry)
        SELECT ids.pk, $1, $2, $3, coalesce($4, clock_timestamp()),
            coalesce($5, clock_timestamp()), $6, cardinality($14::text[]), $7, $8, $9::json,
            $10::json, $11, $12, CASE WHEN cardinality($14::text[]) > 0 THEN ids.line END,
            ids.line, ($18::text[])[cardinality($18::text[])]
        FROM ids
        ON CONFLICT (session_id) DO NOTHING
        RETURNING pk, grow_line
    ), line AS (
        -- A session has its first line from the start, empty or not: its first append then
        -- extends it in place, the one-statement append, as every later one.
        INSERT INTO lines (pk, session_pk, root, parent_line, start)
        SELECT grow_line, pk, grow_line, NULL, 0 FROM new
    ), messages AS (
        INSERT INTO messages (session_pk, line_pk, seq, entry_id, role, body, search_text,
            search_key)
        SELECT new.pk, new.grow_line, m.ord - 1, m.entry_id, m.role, m.body, m.search_text,
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
            head_line = CASE WHEN cardinality($1::text[]) > 0 THEN grow_line ELSE head_line END,
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


def checked_text(value: str, what: str) -> str:
    if "\x00" in value:
        # A text column cannot hold U+0000 (JSON bodies can: they keep it escaped).
        raise InvalidQueryError(
            f"the session's {what} contains the NUL character (U+0000), which PostgreSQL cannot "
            "store in text; remove it"
        )
    return value


def _state_columns(state: Mapping[str, JsonValue]) -> tuple[list[str], list[str], list[str]]:
    """``(keys set, their values as JSON, keys removed)``: a key given None is removed."""
    keys = [checked_text(k, "state key") for k, v in state.items() if v is not None]
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
            session_id=checked_text(session.session_id, "id"),
            agent_name=checked_text(session.agent_name, "agent name"),
            model=checked_text(session.model, "model"),
            started_at=session.started_at,
            updated_at=updated_at,
            ended_at=session.ended_at,
            turns=turns,
            tool_calls=tool_calls,
            usage=session.usage.model_dump_json() if session.usage else None,
            metadata=json.dumps(session.metadata, ensure_ascii=False),
            scope=checked_text(session.scope, "scope") if session.scope is not None else None,
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


async def write_state(conn: Conn, pk: int, state: Mapping[str, JsonValue]) -> None:
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


async def create(
    conn: Conn, row: SessionRow, columns: MessageColumns, want_summary: bool
) -> SessionSummary | None:
    pk = await insert_session(conn, row, columns)  # the common case: one statement
    async with conn.transaction():
        while pk is None:
            found = await lock(conn, row.session_id)
            if found is not None and not found.expired(utc_now()):
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
            found = await lock(conn, session.session_id)
            if found is not None and not found.expired(utc_now()):
                break
            if found is not None:
                await delete_row(conn, session.session_id)
            pk = await insert_session(conn, row, MessageColumns.of(with_ids))
            if pk is not None:
                return SaveResult(await summary(conn, pk) if want_summary else None, with_ids)
            # Another writer inserted this id meanwhile, and committed: lock its row.
        ranges = await path_of(conn, found.head)
        keep = common_prefix(await read_ranges(conn, ranges), given)
        kept = found
        if keep < found.count:
            kept = await cut(conn, found, ranges, keep)
        written = with_ids[keep:]
        if written:
            line = kept.grow_line
            if line is None:
                some = await some_line(conn, kept)
                root = await root_of(conn, some) if some is not None else None
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
            await write_state(conn, found.pk, session.state)
        return SaveResult(await summary(conn, found.pk) if want_summary else None, written)


async def _already_stored(conn: Conn, row: Row, ids: Sequence[str]) -> bool:
    """Whether an append of entries ``ids`` was made already (a retry whose first try committed):
    True when all are on the session's path; an error when only some are."""
    found = await conn.fetch(
        "SELECT entry_id, line_pk, seq FROM messages WHERE entry_id = ANY ($1::text[])", list(ids)
    )
    if not found or row.head is None:
        return False
    ranges = await path_of(conn, row.head)
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
            row = await lock(conn, session_id)
            if row is not None and not row.expired(utc_now()):
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
            await write_state(conn, row.pk, state)
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
        some = await some_line(conn, row)
        root = await root_of(conn, some) if some is not None else None
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


async def set_state(
    conn: Conn, session_id: str, state: Mapping[str, JsonValue], context: WriteContext
) -> SessionSummary:
    async with conn.transaction():
        row = await lock_for_write(conn, session_id, context)
        await write_state(conn, row.pk, state)
        await conn.execute(
            "UPDATE sessions SET revision = revision + 1, "
            "updated_at = greatest(updated_at, clock_timestamp()), "
            "expires_at = coalesce($1, expires_at) WHERE pk = $2",
            context.expires_at,
            row.pk,
        )
        return await summary(conn, row.pk)
