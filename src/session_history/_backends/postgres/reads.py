"""Reads on PostgreSQL: sessions, summaries, listing, the tail of a session, branches, state.

As on SQLite, the server hands back JSON text (a summary is built by concatenation, a session's
head by ``json_build_object``), spliced into one document that pydantic-core validates in one call.
Tables are named plainly: each connection's ``search_path`` is the store's schema.

A session's messages are the path to its head (``tree.py``). For a session whose head is on a
first line (one that never branched), :data:`HEAD` reads them in the same statement as the
session: one range read through the ``(line_pk, seq)`` index, as the flat list was. Otherwise
it brings the lines of the tree, ``tree.path`` makes the ranges, and :data:`RANGES` reads them
in a second statement that checks the session is still at the revision the first one saw (so
the two agree without a transaction: while the revision stays, so does every entry of its path).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pydantic import JsonValue

from ..._codec import MESSAGES, METADATA, SUMMARIES, json_array, with_messages
from ..._models import Branch, ChatMessage, Session, SessionSummary, utc_now
from ..shared import DollarParams, live
from ..tree import Line, Point, Range, path, tail
from ..windows import PathRead, size

if TYPE_CHECKING:
    import asyncpg

    from .connection import Conn

__all__ = [
    "EXPORT_JSON",
    "LINES_OF_TREE",
    "STATE_JSON",
    "SUMMARY_JSON",
    "count",
    "get_summary",
    "list_branches",
    "load",
    "load_messages",
    "load_metadata",
    "load_state",
    "read_path",
    "read_ranges",
    "read_window",
    "select_summaries",
    "summaries",
    "summary",
    "tree_of",
]

# A summary as JSON text, by concatenation: json_build_object takes 22 of the 29 ms that
# PostgreSQL spends on 5,000 summaries, concatenation 17 (to_json quotes strings and writes
# times as ISO 8601, as json_build_object does).
SUMMARY_JSON = """('{"id":' || to_json(session_id) || ',"agent_name":' || to_json(agent_name)
    || ',"model":' || to_json(model) || ',"message_count":' || message_count
    || ',"turn_count":' || turn_count || ',"tool_call_count":' || tool_call_count
    || ',"started_at":' || to_json(started_at) || ',"updated_at":' || to_json(updated_at)
    || ',"ended_at":' || coalesce(to_json(ended_at)::text, 'null')
    || ',"usage":' || coalesce(usage::text, 'null') || ',"metadata":' || metadata::text
    || ',"scope":' || coalesce(to_json(scope)::text, 'null')
    || ',"expires_at":' || coalesce(to_json(expires_at)::text, 'null')
    || ',"revision":' || revision || ',"head":' || coalesce(to_json(head_entry)::text, 'null')
    || ',"forked_from":' || coalesce(to_json(forked_from)::text, 'null')
    || ',"forked_at":' || coalesce(to_json(forked_at)::text, 'null') || '}')"""

EXPORT_JSON = """json_build_object(
    'session_id', session_id, 'agent_name', agent_name, 'model', model,
    'started_at', started_at, 'ended_at', ended_at, 'updated_at', updated_at,
    'usage', usage, 'metadata', metadata, 'scope', scope, 'expires_at', expires_at,
    'revision', revision, 'forked_from', forked_from, 'forked_at', forked_at)::text"""

# The state of session ``{pk}`` as one JSON object (json keeps each value's text).
STATE_JSON = """(SELECT coalesce(json_object_agg(key, value ORDER BY key), '{{}}')::text
    FROM session_state WHERE session_pk = {pk})"""

SESSION_JSON = f"""json_build_object(
    'session_id', s.session_id, 'agent_name', s.agent_name, 'model', s.model,
    'started_at', s.started_at, 'ended_at', s.ended_at, 'usage', s.usage,
    'metadata', s.metadata, 'scope', s.scope, 'expires_at', s.expires_at,
    'state', {STATE_JSON.format(pk="s.pk")}::json)::text"""

LINES_OF_TREE = (
    "SELECT pk, session_pk, parent_line, start FROM lines "
    "WHERE root = (SELECT root FROM lines WHERE pk = $1)"
)

# A session, its head and, when the head is on a first line, ``{what}`` of the last ``{last}``
# entries of its path (all for NULL) in order; when it is not, the lines of its tree as JSON.
# ``{live}`` keeps out an expired session, or one of another scope than the caller's.
HEAD = """
    SELECT s.pk, s.revision, s.head_line, s.message_count {extra},
        CASE WHEN l.parent_line IS NULL THEN ARRAY(
            SELECT {what} FROM messages WHERE line_pk = s.head_line
                AND seq >= greatest(l.start, s.message_count
                    - least(coalesce({last}, s.message_count), s.message_count))
                AND seq < s.message_count
            ORDER BY seq
        ) END AS items,
        CASE WHEN l.parent_line IS NOT NULL THEN (
            SELECT json_agg(json_build_array(t.pk, t.session_pk, t.parent_line, t.start))::text
            FROM lines AS t WHERE t.root = l.root
        ) END AS tree
    FROM sessions AS s LEFT JOIN lines AS l ON l.pk = s.head_line
    WHERE s.session_id = {session_id} AND {live}
"""

# ``{what}`` of the entries of the ranges $1-$3 (lines, lows, highs) in path order, and nothing
# unless session $4 is still at revision $5.
RANGES = """
    SELECT {what} FROM unnest($1::bigint[], $2::int[], $3::int[]) AS r(line, lo, hi)
    JOIN messages AS m ON m.line_pk = r.line AND m.seq BETWEEN r.lo AND r.hi
    WHERE EXISTS (SELECT 1 FROM sessions WHERE pk = $4 AND revision = $5)
    ORDER BY m.seq
"""
# The same without the revision check, in a caller's transaction.
RANGES_HERE = """
    SELECT {what} FROM unnest($1::bigint[], $2::int[], $3::int[]) AS r(line, lo, hi)
    JOIN messages AS m ON m.line_pk = r.line AND m.seq BETWEEN r.lo AND r.hi
    ORDER BY m.seq
"""


def summaries(texts: Iterable[str]) -> list[SessionSummary]:
    return SUMMARIES.validate_json(json_array(texts))


async def summary(conn: Conn, pk: int) -> SessionSummary:
    text = await conn.fetchval(f"SELECT {SUMMARY_JSON} FROM sessions WHERE pk = $1", pk)
    return SessionSummary.model_validate_json(text)


async def get_summary(conn: Conn, session_id: str, scope: str | None) -> SessionSummary | None:
    p = DollarParams()
    text = await conn.fetchval(
        f"SELECT {SUMMARY_JSON} FROM sessions WHERE session_id = {p(session_id)} "
        f"AND {live(p, scope)}",
        *p.values,
    )
    return SessionSummary.model_validate_json(text) if text else None


def _columns(ranges: Sequence[Range]) -> tuple[list[int], list[int], list[int]]:
    return [r.line for r in ranges], [r.lo for r in ranges], [r.hi for r in ranges]


async def read_ranges(conn: Conn, ranges: Sequence[Range], what: str = "body::text") -> list[str]:
    """``what`` of each entry of ``ranges``, in path order, in the caller's transaction."""
    if not ranges:
        return []
    rows = await conn.fetch(RANGES_HERE.format(what=what), *_columns(ranges))
    return [r[0] for r in rows]


async def tree_of(conn: Conn, line: int) -> dict[int, Line]:
    """Every line of the tree ``line`` belongs to."""
    return {r[0]: Line(r[0], r[1], r[2], r[3]) for r in await conn.fetch(LINES_OF_TREE, line)}


@functools.cache
def _head_sql(what: str, extra: str, scoped: bool) -> str:
    """HEAD for these columns, made once: $1 last, $2 the session id, $3 now, $4 the scope."""
    p = DollarParams()
    last, session_id = f"{p(None)}::bigint", p(None)
    where = live(p, "" if scoped else None, now=utc_now())
    return HEAD.format(extra=extra, what=what, last=last, session_id=session_id, live=where)


async def _path(
    conn: Conn,
    session_id: str,
    scope: str | None,
    *,
    last: int | None = None,
    what: str = "body::text",
    extra: str = "",
) -> tuple[asyncpg.Record, list[str | None]] | None:
    """The session's row (with ``extra``) and ``what`` of the last ``last`` entries of its
    path: one statement for a session on a first line, two otherwise."""
    while True:
        values: list[object] = [last, session_id, utc_now()]
        if scope is not None:
            values.append(scope)
        row = await conn.fetchrow(_head_sql(what, extra, scope is not None), *values)
        if row is None:
            return None
        if row["items"] is not None:
            return row, list(row["items"])
        lines = {pk: Line(pk, owner, up, start) for pk, owner, up, start in json.loads(row["tree"])}
        ranges = tail(path(lines, Point(row["head_line"], row["message_count"] - 1)), last)
        items = await conn.fetch(
            RANGES.format(what=what), *_columns(ranges), row["pk"], row["revision"]
        )
        if ranges and not items:
            continue  # the session changed between the statements: read it again
        return row, [r[0] for r in items]


async def read_path(conn: Conn, session_id: str, scope: str | None) -> PathRead | None:
    p = DollarParams()
    sql = (
        "SELECT s.head_line, s.message_count, s.head_entry, l.parent_line, l.start, "
        "CASE WHEN l.parent_line IS NOT NULL THEN (SELECT json_agg(json_build_array("
        "t.pk, t.session_pk, t.parent_line, t.start))::text FROM lines AS t WHERE t.root = l.root"
        ") END FROM sessions AS s LEFT JOIN lines AS l ON l.pk = s.head_line "
        f"WHERE s.session_id = {p(session_id)} AND {live(p, scope)}"
    )
    row = await conn.fetchrow(sql, *p.values)  # one statement: one snapshot
    if row is None:
        return None
    head_line, count, tip, parent, start, tree = row
    if head_line is None:
        return PathRead([], tip)
    if parent is None:
        return PathRead([Range(head_line, start, count - 1)], tip)
    lines = {pk: Line(pk, owner, up, first) for pk, owner, up, first in json.loads(tree)}
    return PathRead(path(lines, Point(head_line, count - 1)), tip)


# ``body`` of the entries of the ranges $1-$3 in path order, with the entry id of the last
# one, in one statement (one snapshot).
WINDOW = """
    SELECT m.body::text, m.entry_id FROM unnest($1::bigint[], $2::int[], $3::int[])
        AS r(line, lo, hi)
    JOIN messages AS m ON m.line_pk = r.line AND m.seq BETWEEN r.lo AND r.hi
    ORDER BY m.seq
"""


async def read_window(conn: Conn, ranges: Sequence[Range], tip: str | None) -> list[str] | None:
    rows = await conn.fetch(WINDOW, *_columns(ranges)) if ranges else []
    bodies: list[str] = [r[0] for r in rows]
    if tip is None:
        return bodies
    if len(rows) != size(ranges) or rows[-1][1] != tip:
        return None
    return bodies


async def load(conn: Conn, session_id: str, scope: str | None) -> Session | None:
    found = await _path(conn, session_id, scope, extra=f", {SESSION_JSON} AS session")
    if found is None:
        return None
    row, bodies = found
    return Session.model_validate_json(with_messages(row["session"], (b or "" for b in bodies)))


async def load_messages(
    conn: Conn, session_id: str, last: int | None, scope: str | None
) -> list[ChatMessage]:
    found = await _path(conn, session_id, scope, last=last)
    if found is None:
        return []
    return MESSAGES.validate_json(json_array(b or "" for b in found[1]))


async def load_metadata(
    conn: Conn, session_id: str, key: str, last: int | None, scope: str | None
) -> list[JsonValue | None]:
    # The key is checked by the facade (letters, digits, '_' and '-'), so it may be quoted in.
    what = f"(body -> 'metadata' -> '{key}')::text"
    found = await _path(conn, session_id, scope, last=last, what=what)
    if found is None:
        return []
    return METADATA.validate_json(json_array(v or "null" for v in found[1]))


async def load_state(conn: Conn, session_id: str, scope: str | None) -> dict[str, JsonValue] | None:
    p = DollarParams()
    text = await conn.fetchval(
        f"SELECT {STATE_JSON.format(pk='pk')} FROM sessions "
        f"WHERE session_id = {p(session_id)} AND {live(p, scope)}",
        *p.values,
    )
    if text is None:
        return None
    state: dict[str, JsonValue] = json.loads(text)
    return state


async def list_branches(conn: Conn, session_id: str, scope: str | None) -> list[Branch] | None:
    p = DollarParams()
    rows = await conn.fetch(
        "SELECT s.head_entry, s.message_count, s.updated_at, true FROM sessions AS s "
        f"WHERE s.session_id = {p(session_id)} AND {live(p, scope)} "
        "UNION ALL SELECT b.entry_id, b.seq + 1, b.updated_at, false FROM branches AS b "
        f"JOIN sessions AS s ON s.pk = b.session_pk WHERE s.session_id = {p(session_id)} "
        f"AND {live(p, scope)}",
        *p.values,
    )
    if not rows:
        return None
    branches = [
        Branch(tip=tip, length=length, updated_at=when, current=current)
        for tip, length, when, current in rows
    ]
    branches.sort(key=lambda b: (b.updated_at, b.tip or ""))
    return branches


async def select_summaries(conn: Conn, sql: str, params: Sequence[object]) -> list[SessionSummary]:
    return summaries(r[0] for r in await conn.fetch(sql, *params))


async def count(conn: Conn, scope: str | None) -> int:
    p = DollarParams()
    return int(
        await conn.fetchval(f"SELECT count(*) FROM sessions WHERE {live(p, scope)}", *p.values)
    )
