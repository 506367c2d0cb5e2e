"""Export and import on SQLite: sessions as JSON lines, lossless, in batches.

An export line is the stored JSON as it is: the session's fields made by SQLite, and the message
bodies spliced in; no model is built and nothing is re-encoded. An import stores each session of a
batch in one transaction: added if new, left alone if unchanged, replaced otherwise.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Literal

from ..._codec import json_array, with_messages
from ..._models import ExportedSession
from ..base import ExportBatch, ImportOutcome
from ..shared import same_fields
from .connection import atomic, snapshot
from .index import forgotten, unindex
from .reads import summary
from .writes import insert_session, stored_bodies

__all__ = ["export_batch", "import_sessions"]

EXPORT_JSON = """json_object(
    'session_id', session_id, 'agent_name', agent_name, 'model', model,
    'started_at', started_at, 'ended_at', ended_at, 'updated_at', updated_at,
    'usage', json(usage), 'metadata', json(metadata))"""


def export_batch(conn: sqlite3.Connection, cursor: int, limit: int) -> ExportBatch:
    with snapshot(conn):
        heads = conn.execute(
            f"SELECT pk, {EXPORT_JSON} FROM sessions WHERE pk > ? ORDER BY pk LIMIT ?",
            (cursor, limit),
        ).fetchall()
        if not heads:
            return ExportBatch([], None)
        rows = conn.execute(
            "SELECT session_pk, body FROM messages WHERE session_pk BETWEEN ? AND ? "
            "ORDER BY session_pk, seq",
            (heads[0][0], heads[-1][0]),
        ).fetchall()
    bodies: dict[int, list[str]] = {pk: [] for pk, _ in heads}
    for pk, body in rows:
        bodies[pk].append(body)
    lines = [with_messages(head, bodies[pk]) for pk, head in heads]
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
                f"SELECT pk, message_count, {EXPORT_JSON} FROM sessions WHERE session_id = ?",
                (session.session_id,),
            ).fetchone()
            outcome: Literal["added", "replaced", "unchanged"] = "added"
            if row is not None:
                pk, count, head = row
                if same_fields(head, count, session) and (
                    count == 0 or json_array(stored_bodies(conn, pk)) == bodies
                ):
                    outcomes.append(ImportOutcome(session.session_id, "unchanged", None, []))
                    continue
                unindex(conn, "session_pk = ?", (pk,))
                conn.execute("DELETE FROM sessions WHERE pk = ?", (pk,))
                forgotten(conn)
                outcome = "replaced"
            pk = insert_session(conn, session, bodies, session.updated_at)
            found = summary(conn, pk) if want_summary else None
            outcomes.append(ImportOutcome(session.session_id, outcome, found, session.messages))
    return outcomes
