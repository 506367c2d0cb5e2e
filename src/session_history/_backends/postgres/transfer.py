"""Export and import on PostgreSQL: sessions as JSON lines, lossless, in batches.

The same as on SQLite (see ``sqlite.transfer``): an export line is the stored JSON with the bodies
spliced in (each holds its entry id); the current branch is ``messages``, every other branch the
messages it adds after its ``parent`` entry. An import stores each batch in one transaction,
each session added, left alone when unchanged, or replaced.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from ..._codec import MESSAGES, json_array
from ..._errors import InvalidQueryError
from ..._lines import BATCH, STAND_IN, Array, HugeLine
from ..._models import ChatMessage, ExportedSession, message_counts, utc_now
from ..base import ExportBatch, ExportParts, ImportOutcome
from ..shared import unchanged, with_entry_ids
from ..tree import Line, Point, Range, beyond, branch_start, path, point_at
from ..windows import PathRead, size, windows
from .reads import EXPORT_JSON, STATE_JSON, read_ranges, summary, tree_of
from .removal import delete_row
from .writes import MessageColumns, SessionRow, insert_messages, insert_session, new_line

if TYPE_CHECKING:
    import asyncpg

    from .connection import Conn

__all__ = [
    "export_batch",
    "export_line",
    "export_parts",
    "export_pieces",
    "import_huge",
    "import_sessions",
]


async def export_pieces(
    conn: Conn,
    pk: int,
    head: str,
    state: str,
    head_line: int | None,
    count: int,
    tip: str | None,
) -> list[str | PathRead]:
    """One session's export line as pieces (see ``ExportParts``), read in the caller's
    transaction: its text around its message arrays, and each array's path to read."""
    lines: dict[int, Line] = await tree_of(conn, head_line) if head_line is not None else {}
    current = path(lines, Point(head_line, count - 1)) if head_line is not None else []
    exported: list[Range] = list(current)
    branches: list[str | PathRead] = []
    for line, seq, updated_at, entry in await conn.fetch(
        "SELECT line_pk, seq, updated_at, entry_id FROM branches WHERE session_pk = $1 "
        "ORDER BY updated_at, line_pk, seq",
        pk,
    ):
        if not lines:
            lines = await tree_of(conn, line)
        tip_path = path(lines, Point(line, seq))
        own = beyond(tip_path, exported)
        parent = None
        if own and own[0].lo > 0:
            before = point_at(tip_path, own[0].lo - 1)
            assert before is not None  # a branch's parent is on its path
            parent = await conn.fetchval(
                "SELECT entry_id FROM messages WHERE line_pk = $1 AND seq = $2",
                before.line,
                before.seq,
            )
        if own:
            exported += own
            branches += [
                f'{"," if branches else ""}{{"parent":{json.dumps(parent)},"messages":[',
                PathRead(own, entry),
                f'],"updated_at":{json.dumps(_iso(updated_at))}}}',
            ]
    start = head[:-1] + f',"state":{state},"branches":['
    return [start, *branches, '],"messages":[', PathRead(current, tip), "]}"]


async def export_line(
    conn: Conn,
    pk: int,
    head: str,
    state: str,
    head_line: int | None,
    count: int,
    tip: str | None,
) -> str:
    """One session's export line, read in the caller's transaction."""
    pieces = await export_pieces(conn, pk, head, state, head_line, count, tip)
    return "".join(
        [p if isinstance(p, str) else ",".join(await read_ranges(conn, p.ranges)) for p in pieces]
    )


def _iso(value: datetime) -> str:
    return value.isoformat()


SELECT_HEAD = f"""pk, head_line, message_count, head_entry, {EXPORT_JSON} AS head,
    {STATE_JSON.format(pk="sessions.pk")} AS state"""
HEADS = f"""SELECT {SELECT_HEAD}, message_count + coalesce((SELECT sum(seq + 1) FROM branches
        WHERE session_pk = sessions.pk), 0) AS entries
    FROM sessions WHERE pk > $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY pk LIMIT $3"""
"""A batch of sessions to export, each with an upper bound of its entries (its branches'
lengths counted whole): whether its line is read now or in windows."""


def _line_of(h: asyncpg.Record) -> tuple[int, str, str, int | None, int, str | None]:
    return h["pk"], h["head"], h["state"], h["head_line"], h["message_count"], h["head_entry"]


async def export_batch(conn: Conn, cursor: int, limit: int) -> ExportBatch:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        heads = await conn.fetch(HEADS, cursor, utc_now(), limit)
        if not heads:
            return ExportBatch([], None)
        lines = [await export_line(conn, *_line_of(h)) for h in heads]
    return ExportBatch(lines, heads[-1]["pk"])


async def export_parts(conn: Conn, cursor: int, limit: int, whole: int) -> ExportParts:
    out: list[tuple[str, list[str | PathRead]]] = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        heads = await conn.fetch(HEADS, cursor, utc_now(), limit)
        for h in heads:
            if h["entries"] <= whole:
                out.append(("", [await export_line(conn, *_line_of(h))]))
            else:
                session_id = json.loads(h["head"])["session_id"]
                out.append((session_id, await export_pieces(conn, *_line_of(h))))
    return ExportParts(out, heads[-1]["pk"] if heads else None)


async def import_sessions(
    conn: Conn,
    prepared: Sequence[tuple[ExportedSession, SessionRow, MessageColumns]],
    want_summary: bool,
) -> list[ImportOutcome]:
    outcomes: list[ImportOutcome] = []
    async with conn.transaction():
        for session, row, columns in prepared:
            outcome: Literal["added", "replaced", "unchanged"] = "added"
            pk: int | None = None
            while pk is None:
                found = await conn.fetchrow(
                    f"SELECT {SELECT_HEAD} FROM sessions WHERE session_id = $1 FOR UPDATE",
                    session.session_id,
                )
                if found is not None:
                    stored = await export_line(conn, *_line_of(found))
                    if unchanged(stored, session):
                        outcome = "unchanged"
                        break
                    await delete_row(conn, session.session_id)
                    outcome = "replaced"
                # None: another writer inserted this id meanwhile, and committed; compare again.
                pk = await insert_session(conn, row, columns)
            if pk is None:
                outcomes.append(ImportOutcome(session.session_id, "unchanged", None, []))
                continue
            await _import_tree(conn, pk, session)
            found_summary = await summary(conn, pk) if want_summary else None
            outcomes.append(
                ImportOutcome(session.session_id, outcome, found_summary, session.messages)
            )
    return outcomes


async def _import_tree(conn: Conn, pk: int, session: ExportedSession) -> None:
    """The imported session's other branches, revision and fork, after its current branch."""
    await conn.execute(
        "UPDATE sessions SET revision = $1, forked_from = $2, forked_at = $3 WHERE pk = $4",
        session.revision or 1,
        session.forked_from,
        session.forked_at,
        pk,
    )
    if not session.branches:
        return
    places = {
        r[0]: Point(r[1], r[2])
        for r in await conn.fetch(
            "SELECT m.entry_id, m.line_pk, m.seq FROM messages AS m JOIN lines AS l "
            "ON l.pk = m.line_pk WHERE l.session_pk = $1",
            pk,
        )
    }
    root_line = next(iter(places.values())).line if places else None
    for branch in session.branches:
        messages: list[ChatMessage] = with_entry_ids(branch.messages)[0]
        parent = branch_start(places, branch.parent, session.session_id)
        root = None
        if parent is None and root_line is not None:
            root = await conn.fetchval("SELECT root FROM lines WHERE pk = $1", root_line)
        start = parent.seq + 1 if parent is not None else 0
        line = await new_line(conn, pk, parent.line if parent else None, start, root)
        if root_line is None:
            root_line = line
        await insert_messages(conn, pk, line, start, MessageColumns.of(messages))
        for i, message in enumerate(messages):
            places[message.entry_id or ""] = Point(line, start + i)
        await conn.execute(
            "INSERT INTO branches (session_pk, line_pk, seq, entry_id, updated_at) "
            "VALUES ($1, $2, $3, $4, coalesce($5, clock_timestamp()))",
            pk,
            line,
            start + len(messages) - 1,
            messages[-1].entry_id,
            branch.updated_at,
        )


async def import_huge(conn: Conn, huge: HugeLine) -> ImportOutcome:
    """Store a huge line's session (``_lines.py``) in one transaction, its messages parsed and
    inserted a batch at a time: added, left alone when unchanged, or replaced."""
    session = huge.session
    outcome: Literal["added", "replaced"] = "added"
    async with conn.transaction():
        pk: int | None = None
        while pk is None:
            found = await conn.fetchrow(
                f"SELECT {SELECT_HEAD} FROM sessions WHERE session_id = $1 FOR UPDATE",
                session.session_id,
            )
            if found is not None:
                if await _same(conn, huge, await export_pieces(conn, *_line_of(found))):
                    return ImportOutcome(session.session_id, "unchanged", None, [])
                await delete_row(conn, session.session_id)
                outcome = "replaced"
            # None: another writer inserted this id meanwhile, and committed; compare again.
            pk = await insert_session(
                conn, SessionRow.of(session, session.updated_at), MessageColumns.of([])
            )
        root_line = None
        if huge.current.count:
            root_line = await new_line(conn, pk, None, 0, None)
            count, turns, tool_calls, last = await _insert_batches(
                conn, pk, root_line, 0, huge, huge.current
            )
            await conn.execute(
                "UPDATE sessions SET message_count = $1, turn_count = $2, tool_call_count = $3, "
                "head_entry = $4, head_line = $5, grow_line = $5 WHERE pk = $6",
                count,
                turns,
                tool_calls,
                last,
                root_line,
                pk,
            )
        for branch, array in zip(session.branches, huge.branches, strict=True):
            parent = None
            if branch.parent is not None:
                parent = await conn.fetchrow(
                    "SELECT line_pk, seq FROM messages WHERE session_pk = $1 AND entry_id = $2",
                    pk,
                    branch.parent,
                )
                if parent is None:
                    raise InvalidQueryError(
                        f"session {session.session_id!r}: a branch's parent entry "
                        f"{branch.parent!r} is not on the current branch or an earlier one; the "
                        "line is not an export of a session's tree"
                    )
            root = None
            if parent is None and root_line is not None:
                root = await conn.fetchval("SELECT root FROM lines WHERE pk = $1", root_line)
            start = parent[1] + 1 if parent is not None else 0
            line = await new_line(conn, pk, parent[0] if parent else None, start, root)
            root_line = root_line or line
            count, _, _, last = await _insert_batches(conn, pk, line, start, huge, array)
            await conn.execute(
                "INSERT INTO branches (session_pk, line_pk, seq, entry_id, updated_at) "
                "VALUES ($1, $2, $3, $4, coalesce($5, clock_timestamp()))",
                pk,
                line,
                start + count - 1,
                last,
                branch.updated_at,
            )
        await conn.execute(
            "UPDATE sessions SET revision = $1, forked_from = $2, forked_at = $3 WHERE pk = $4",
            session.revision or 1,
            session.forked_from,
            session.forked_at,
            pk,
        )
    return ImportOutcome(session.session_id, outcome, None, [])


async def _insert_batches(
    conn: Conn, pk: int, line: int, start: int, huge: HugeLine, array: Array
) -> tuple[int, int, int, str | None]:
    """Insert ``array``'s messages on ``line`` from depth ``start``, a batch at a time: how
    many, their turns and tool calls, and the last one's entry id."""
    count = turns = tool_calls = 0
    last = None
    for batch in huge.batches(array):
        messages = with_entry_ids(batch)[0]
        await insert_messages(conn, pk, line, start + count, MessageColumns.of(messages))
        more_turns, more_calls = message_counts(messages)
        count += len(messages)
        turns += more_turns
        tool_calls += more_calls
        last = messages[-1].entry_id
    return count, turns, tool_calls, last


async def _same(conn: Conn, huge: HugeLine, pieces: list[str | PathRead]) -> bool:
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
            stored = MESSAGES.validate_json(json_array(await read_ranges(conn, window)))
            if stored != batch:
                return False
    return True
