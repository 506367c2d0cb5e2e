"""Writes on PostgreSQL: single statements where they can be, one transaction otherwise.

An append is one statement (an ``UPDATE ... RETURNING`` of the session feeding an ``INSERT`` of
the messages): the session row's lock makes concurrent appenders in any number of processes
queue, each taking the next sequence numbers. Parameters travel as named fields of
:class:`SessionRow` and :class:`MessageColumns`, which put them in each statement's order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..._codec import MESSAGES, json_array
from ..._errors import InvalidQueryError, SessionExistsError, SessionNotFoundError
from ..._models import ChatMessage, Session, SessionSummary, message_counts
from ..._search import search_key, search_text
from ..base import AppendResult, PopResult, PruneResult, SaveResult
from ..shared import PruneRule, message_rows
from .reads import SUMMARY_JSON, stored_bodies, summaries, summary

if TYPE_CHECKING:
    import asyncpg

    from .connection import Conn

__all__ = [
    "MessageColumns",
    "SessionRow",
    "append",
    "create",
    "delete",
    "insert_session",
    "locked_or_inserted",
    "pop",
    "prune",
    "save",
]

# $1-$10: SessionRow.args(); $11-$14: MessageColumns.args().
INSERT_SESSION = """
    WITH new AS (
        INSERT INTO sessions (session_id, agent_name, model, started_at, updated_at, ended_at,
            message_count, turn_count, tool_call_count, usage, metadata)
        VALUES ($1, $2, $3, coalesce($4, clock_timestamp()), coalesce($5, clock_timestamp()),
            $6, cardinality($11::text[]), $7, $8, $9::json, $10::json)
        ON CONFLICT (session_id) DO NOTHING
        RETURNING pk
    ), messages AS (
        INSERT INTO messages (session_pk, seq, role, body, search_text, search_key)
        SELECT new.pk, m.ord - 1, m.role, m.body, m.search_text, m.search_key
        FROM new, unnest($11::text[], $12::json[], $13::text[], $14::text[])
            WITH ORDINALITY AS m(role, body, search_text, search_key, ord)
    )
    SELECT pk FROM new
"""

# $1-$4: MessageColumns.args(); $5 the session key; $6 the first sequence number.
INSERT_MESSAGES = """
    INSERT INTO messages (session_pk, seq, role, body, search_text, search_key)
    SELECT $5, $6 + m.ord - 1, m.role, m.body, m.search_text, m.search_key
    FROM unnest($1::text[], $2::json[], $3::text[], $4::text[])
        WITH ORDINALITY AS m(role, body, search_text, search_key, ord)
"""

# $1-$4: MessageColumns.args(); $5 the session id; $6 turns; $7 tool calls; $8 usage.
# The UPDATE locks the session row, so a concurrent appender waits, then sees the count this one
# left, and takes the sequence numbers after it.
APPEND = """
    WITH s AS (
        UPDATE sessions SET
            message_count = message_count + cardinality($1::text[]),
            turn_count = turn_count + $6, tool_call_count = tool_call_count + $7,
            updated_at = greatest(updated_at, clock_timestamp()),
            usage = CASE WHEN $8::json IS NULL THEN usage ELSE add_usage(usage, $8::json) END
        WHERE session_id = $5
        RETURNING pk, message_count - cardinality($1::text[]) AS first_seq
    ), inserted AS (
        INSERT INTO messages (session_pk, seq, role, body, search_text, search_key)
        SELECT s.pk, s.first_seq + m.ord - 1, m.role, m.body, m.search_text, m.search_key
        FROM s, unnest($1::text[], $2::json[], $3::text[], $4::text[])
            WITH ORDINALITY AS m(role, body, search_text, search_key, ord)
    )
    SELECT pk FROM s
"""

UPDATE_AFTER_SAVE = """
    UPDATE sessions SET agent_name = $2, model = $3, started_at = coalesce($4, started_at),
        updated_at = greatest(updated_at, clock_timestamp()), ended_at = $5,
        message_count = $6, turn_count = $7, tool_call_count = $8, usage = $9::json,
        metadata = $10::json
    WHERE pk = $1
"""

UPDATE_AFTER_POP = """
    UPDATE sessions SET message_count = $2, turn_count = turn_count - $3,
        tool_call_count = tool_call_count - $4,
        updated_at = greatest(updated_at, clock_timestamp())
    WHERE pk = $1
"""


def _text(value: str, what: str) -> str:
    if "\x00" in value:
        # A text column cannot hold U+0000 (JSON bodies can: they keep it escaped).
        raise InvalidQueryError(
            f"the session's {what} contains the NUL character (U+0000), which PostgreSQL cannot "
            "store in text; remove it"
        )
    return value


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

    @classmethod
    def of(cls, session: Session, updated_at: datetime | None = None) -> SessionRow:
        turns, tool_calls = message_counts(session.messages)
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
        )

    def args(self) -> tuple[object, ...]:
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
        )


@dataclass(frozen=True, slots=True)
class MessageColumns:
    """Messages as four parallel arrays (one ``unnest`` inserts them all)."""

    roles: list[str]
    bodies: list[str]
    texts: list[str]
    keys: list[str]
    """What the ``tsvector`` is made of: the text's tokens (see ``_search.search_key``)."""

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
        )

    def __len__(self) -> int:
        return len(self.roles)

    def since(self, first: int) -> MessageColumns:
        return MessageColumns(
            self.roles[first:], self.bodies[first:], self.texts[first:], self.keys[first:]
        )

    def __add__(self, more: MessageColumns) -> MessageColumns:
        return MessageColumns(
            self.roles + more.roles,
            self.bodies + more.bodies,
            self.texts + more.texts,
            self.keys + more.keys,
        )

    def args(self) -> tuple[object, ...]:
        return (self.roles, self.bodies, self.texts, self.keys)


async def insert_session(conn: Conn, row: SessionRow, columns: MessageColumns) -> int | None:
    """Insert a session and its messages; ``None`` when the id is taken."""
    pk: int | None = await conn.fetchval(INSERT_SESSION, *row.args(), *columns.args())
    return pk


async def locked_or_inserted(
    conn: Conn, select: str, row: SessionRow, columns: MessageColumns
) -> asyncpg.Record | int:
    """The stored session's ``select`` columns, its row locked until the transaction ends; or,
    when no session has the id, the key of ``row`` inserted with ``columns``."""
    while True:
        found = await conn.fetchrow(
            f"SELECT {select} FROM sessions WHERE session_id = $1 FOR UPDATE", row.session_id
        )
        if found is not None:
            return found
        pk = await insert_session(conn, row, columns)
        if pk is not None:
            return pk
        # FOR UPDATE locks no row that is not there: another writer inserted this id in between,
        # and committed (the insert waited for it). This transaction's next statement sees it.


async def create(
    conn: Conn, row: SessionRow, columns: MessageColumns, want_summary: bool
) -> SessionSummary | None:
    async with conn.transaction():
        pk = await insert_session(conn, row, columns)
        if pk is None:
            raise SessionExistsError(row.session_id)
        return await summary(conn, pk) if want_summary else None


async def save(
    conn: Conn,
    row: SessionRow,
    columns: MessageColumns,
    messages: Sequence[ChatMessage],
    want_summary: bool,
) -> SaveResult:
    async with conn.transaction():
        found = await locked_or_inserted(conn, "pk, message_count", row, columns)
        if isinstance(found, int):
            return SaveResult(await summary(conn, found) if want_summary else None, messages)
        pk, stored = found["pk"], found["message_count"]
        keep = 0
        if 0 < stored <= len(columns):
            keep = stored if await stored_bodies(conn, pk) == columns.bodies[:stored] else 0
        if keep == 0:
            await conn.execute("DELETE FROM messages WHERE session_pk = $1", pk)
        new = columns.since(keep)
        if new:
            await conn.execute(INSERT_MESSAGES, *new.args(), pk, keep)
        await conn.execute(
            UPDATE_AFTER_SAVE,
            pk,
            row.agent_name,
            row.model,
            row.started_at,
            row.ended_at,
            len(columns),
            row.turns,
            row.tool_calls,
            row.usage,
            row.metadata,
        )
        return SaveResult(await summary(conn, pk) if want_summary else None, messages[keep:])


async def append(
    conn: Conn,
    session_id: str,
    columns: MessageColumns,
    turns: int,
    tool_calls: int,
    usage: str | None,
    create: tuple[SessionRow, MessageColumns] | None,
    want_summary: bool,
) -> AppendResult:
    # No transaction: each statement is whole on its own, and the common case (the session is
    # there) stays one round trip.
    args = (*columns.args(), session_id, turns, tool_calls, usage)
    pk = await conn.fetchval(APPEND, *args)
    if pk is None and create is not None:
        created = await insert_session(conn, *create)
        if created is not None:
            return AppendResult(await summary(conn, created) if want_summary else None, True)
        pk = await conn.fetchval(APPEND, *args)  # another writer created it meanwhile
    if pk is None:
        raise SessionNotFoundError(session_id)
    return AppendResult(await summary(conn, pk) if want_summary else None, False)


async def pop(conn: Conn, session_id: str, n: int, want_summary: bool) -> PopResult:
    async with conn.transaction():
        # The row lock makes concurrent appends and pops on this session queue.
        found = await conn.fetchrow(
            "SELECT pk, message_count FROM sessions WHERE session_id = $1 FOR UPDATE", session_id
        )
        if found is None:
            return PopResult([], None)
        pk, first = found["pk"], max(found["message_count"] - n, 0)
        rows = await conn.fetch(
            "DELETE FROM messages WHERE session_pk = $1 AND seq >= $2 RETURNING seq, body::text",
            pk,
            first,
        )
        if not rows:
            return PopResult([], None)
        ordered = sorted(rows, key=lambda r: int(r["seq"]))
        popped = MESSAGES.validate_json(json_array(r["body"] for r in ordered))
        turns, tool_calls = message_counts(popped)
        await conn.execute(UPDATE_AFTER_POP, pk, first, turns, tool_calls)
        return PopResult(popped, await summary(conn, pk) if want_summary else None)


async def delete(conn: Conn, session_id: str) -> bool:
    status = await conn.execute("DELETE FROM sessions WHERE session_id = $1", session_id)
    return status != "DELETE 0"


async def prune(conn: Conn, rules: Sequence[PruneRule], dry_run: bool) -> list[PruneResult]:
    results: list[PruneResult] = []
    async with conn.transaction():
        for rule in rules:
            rows = await conn.fetch(
                f"SELECT pk, xmin, {SUMMARY_JSON} FROM sessions {rule.selection}", *rule.params
            )
            chosen = summaries(r[2] for r in rows)
            if not dry_run and rows:
                # Each statement has a snapshot of its own: delete by key exactly the sessions
                # chosen (the selection run again could take one it did not report), and only
                # as they were chosen (xmin, the row's version): a session another writer
                # changed meanwhile (an append made it the newest) is kept, with what it got.
                deleted = {
                    r[0]
                    for r in await conn.fetch(
                        "DELETE FROM sessions AS s USING unnest($1::bigint[], $2::xid[]) "
                        "AS chosen(pk, version) WHERE s.pk = chosen.pk "
                        "AND s.xmin = chosen.version RETURNING s.session_id",
                        [r[0] for r in rows],
                        [r[1] for r in rows],
                    )
                }
                chosen = [summary for summary in chosen if summary.id in deleted]
            if chosen:
                results.append(PruneResult(rule.reason, chosen))
    return results
