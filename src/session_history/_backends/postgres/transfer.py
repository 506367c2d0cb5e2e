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

from ..._codec import json_array, with_messages
from ..._errors import InvalidQueryError
from ..._models import ChatMessage, ExportedSession, utc_now
from ..base import ExportBatch, ImportOutcome
from ..shared import unchanged, with_entry_ids
from ..tree import Line, Point, Range, beyond, path, point_at
from .reads import EXPORT_JSON, STATE_JSON, read_ranges, summary, tree_of
from .removal import delete_row
from .writes import MessageColumns, SessionRow, insert_messages, insert_session, new_line

if TYPE_CHECKING:
    from .connection import Conn

__all__ = ["export_batch", "export_line", "import_sessions"]


async def export_line(
    conn: Conn, pk: int, head: str, state: str, head_line: int | None, count: int
) -> str:
    """One session's export line, read in the caller's transaction."""
    lines: dict[int, Line] = await tree_of(conn, head_line) if head_line is not None else {}
    current = path(lines, Point(head_line, count - 1)) if head_line is not None else []
    bodies = await read_ranges(conn, current)
    exported: list[Range] = list(current)
    branches: list[str] = []
    for line, seq, updated_at in await conn.fetch(
        "SELECT line_pk, seq, updated_at FROM branches WHERE session_pk = $1 "
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
            messages = json_array(await read_ranges(conn, own))
            branches.append(
                f'{{"parent":{json.dumps(parent)},"messages":{messages},'
                f'"updated_at":{json.dumps(_iso(updated_at))}}}'
            )
    head = head[:-1] + f',"state":{state},"branches":{json_array(branches)}}}'
    return with_messages(head, bodies)


def _iso(value: datetime) -> str:
    return value.isoformat()


SELECT_HEAD = f"""pk, head_line, message_count, {EXPORT_JSON} AS head,
    {STATE_JSON.format(pk="sessions.pk")} AS state"""


async def export_batch(conn: Conn, cursor: int, limit: int) -> ExportBatch:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        heads = await conn.fetch(
            f"SELECT {SELECT_HEAD} FROM sessions WHERE pk > $1 "
            "AND (expires_at IS NULL OR expires_at > $2) ORDER BY pk LIMIT $3",
            cursor,
            utc_now(),
            limit,
        )
        if not heads:
            return ExportBatch([], None)
        lines = [
            await export_line(
                conn, h["pk"], h["head"], h["state"], h["head_line"], h["message_count"]
            )
            for h in heads
        ]
    return ExportBatch(lines, heads[-1]["pk"])


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
                    stored = await export_line(
                        conn,
                        found["pk"],
                        found["head"],
                        found["state"],
                        found["head_line"],
                        found["message_count"],
                    )
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
        parent = places.get(branch.parent) if branch.parent is not None else None
        if branch.parent is not None and parent is None:
            raise InvalidQueryError(
                f"session {session.session_id!r}: a branch's parent entry {branch.parent!r} is "
                "not on the current branch or an earlier one; the line is not an export of a "
                "session's tree"
            )
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
