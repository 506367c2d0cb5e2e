"""Export and import on PostgreSQL: sessions as JSON lines, lossless, in batches.

The same as on SQLite (see ``sqlite.transfer``): an export line is the stored JSON with the bodies
spliced in; an import stores each batch in one transaction, each session added, left alone when
unchanged, or replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from ..._codec import with_messages
from ..._models import ExportedSession
from ..base import ExportBatch, ImportOutcome
from ..shared import unchanged
from .reads import EXPORT_JSON, stored_bodies, summary
from .writes import MessageColumns, SessionRow, insert_session, locked_or_inserted

if TYPE_CHECKING:
    from .connection import Conn

__all__ = ["export_batch", "import_sessions"]

STORED = f"pk, message_count, {EXPORT_JSON} AS head"
"""What an import compares a session with: its stored fields as export JSON, and its size."""


async def export_batch(conn: Conn, cursor: int, limit: int) -> ExportBatch:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        heads = await conn.fetch(
            f"SELECT pk, {EXPORT_JSON} AS head FROM sessions WHERE pk > $1 ORDER BY pk LIMIT $2",
            cursor,
            limit,
        )
        if not heads:
            return ExportBatch([], None)
        rows = await conn.fetch(
            "SELECT session_pk, body::text AS b FROM messages "
            "WHERE session_pk BETWEEN $1 AND $2 ORDER BY session_pk, seq",
            heads[0]["pk"],
            heads[-1]["pk"],
        )
    bodies: dict[int, list[str]] = {h["pk"]: [] for h in heads}
    for r in rows:
        bodies[r["session_pk"]].append(r["b"])
    lines = [with_messages(h["head"], bodies[h["pk"]]) for h in heads]
    return ExportBatch(lines, heads[-1]["pk"])


async def import_sessions(
    conn: Conn,
    prepared: Sequence[tuple[ExportedSession, SessionRow, MessageColumns]],
    want_summary: bool,
) -> list[ImportOutcome]:
    outcomes: list[ImportOutcome] = []
    async with conn.transaction():
        for session, row, columns in prepared:
            found = await locked_or_inserted(conn, STORED, row, columns)
            outcome: Literal["added", "replaced", "unchanged"] = "added"
            if isinstance(found, int):
                pk = found
            else:
                pk, count = found["pk"], found["message_count"]
                if unchanged(found["head"], session) and (
                    count == 0 or await stored_bodies(conn, pk) == columns.bodies
                ):
                    outcomes.append(ImportOutcome(session.session_id, "unchanged", None, []))
                    continue
                await conn.execute("DELETE FROM sessions WHERE pk = $1", pk)
                replaced = await insert_session(conn, row, columns)
                assert replaced is not None  # the id is free: deleted above under the row's lock
                pk, outcome = replaced, "replaced"
            found_summary = await summary(conn, pk) if want_summary else None
            outcomes.append(
                ImportOutcome(session.session_id, outcome, found_summary, session.messages)
            )
    return outcomes
