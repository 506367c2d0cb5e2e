"""Search and statistics on SQLite: the FTS5 index and the summary columns."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..._codec import HITS, json_array
from ..._errors import InvalidQueryError
from ..._models import HistoryStats, SearchHit
from ..shared import now_ts
from .connection import snapshot
from .index import catch_up, index_pending

__all__ = ["Query", "file_size", "search", "stats"]

# The sessions stats counts: live ones (of scope ?1 when it is given) at time ?2.
_LIVE = "WHERE (?1 IS NULL OR scope = ?1) AND (expires_at IS NULL OR expires_at > ?2)"
# Token totals with total(), not sum(): sum() fails the whole query ("integer overflow") once
# the sessions add up past 2**63 - 1, which a database an older version wrote may (issue 20).
# total() adds as a float, exact below 2**53; HistoryStats brings the totals into 0..2**63 - 1.
TOTALS = f"""
    SELECT count(*), coalesce(sum(message_count), 0), coalesce(sum(turn_count), 0),
        coalesce(sum(tool_call_count), 0),
        total(json_extract(usage, '$.input_tokens')),
        total(json_extract(usage, '$.output_tokens')),
        total(json_extract(usage, '$.total_tokens')),
        min(updated_at), max(updated_at)
    FROM sessions {_LIVE}
"""
BY_AGENT = f"""
    SELECT agent_name, count(*) FROM sessions {_LIVE} GROUP BY agent_name
    ORDER BY count(*) DESC, agent_name
"""
BY_MODEL = (
    f"SELECT model, count(*) FROM sessions {_LIVE} GROUP BY model ORDER BY count(*) DESC, model"
)
TOTAL_KEYS = (
    "sessions",
    "messages",
    "turns",
    "tool_calls",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "oldest_update",
    "newest_update",
)


@dataclass(frozen=True)
class Query:
    """A search as the worker thread runs it."""

    match: str
    """The FTS5 query (``_search.fts5_query``)."""
    agent_name: str | None
    scope: str | None
    limit: int
    highlight: tuple[str, str]
    read_only: bool
    """A read-only store cannot bring the index up to date; it indexes what waits apart."""


# Rank first, then make snippets for the hits kept: a snippet costs far more than a rank, and a
# common word matches thousands of messages of which a search keeps twenty. ``{table}`` is the
# index as the FROM clause names it, ``{name}`` as FTS5's functions and MATCH name it, and
# ``{only}`` limits it to the messages it answers for.
_RANKED = """
    SELECT f.rowid, bm25({name}) AS score, '{name}' AS source, s.session_id, m.seq
    FROM {table} AS f
    JOIN messages AS m ON m.id = f.rowid
    JOIN sessions AS s ON s.pk = m.session_pk
    WHERE {name} MATCH ? {agent} {scope}
        AND (s.expires_at IS NULL OR s.expires_at > ?) {only}
"""
_SNIPPETS = (
    "SELECT rowid, snippet({name}, 0, ?, ?, '…', 16) FROM {table} "
    "WHERE {name} MATCH ? AND rowid IN ({ids})"
)
_HIT = """
    SELECT json_object('session_id', s.session_id, 'seq', m.seq, 'role', m.role,
        'snippet', ?, 'rank', ?, 'agent_name', s.agent_name, 'model', s.model,
        'entry_id', m.entry_id)
    FROM messages AS m JOIN sessions AS s ON s.pk = m.session_pk WHERE m.id = ?
"""
_INDEXES = {"messages_fts": "messages_fts", "pending_fts": "temp.pending_fts"}
# Beside the pending index, the main one answers only up to the watermark: above it, an id
# given again to a new message may still have its predecessor's entry (removed at the next
# catch-up, which a read-only store cannot make), and that must not find the new message.
# Caught up, the main index has no such entry: a search that writes spares itself the filter.
_ONLY = "AND f.rowid <= (SELECT indexed_to FROM search_index_state)"


def search(conn: sqlite3.Connection, query: Query) -> list[SearchHit]:
    """The best hits, best first, with every committed message searchable."""
    try:
        if query.read_only:
            index_pending(conn)
            return _search(conn, query, ["messages_fts", "pending_fts"])
        catch_up(conn)
        return _search(conn, query, ["messages_fts"])
    except sqlite3.OperationalError as exc:
        if "fts5" not in str(exc):
            raise
        # Terms are quoted, so this is rare (an index-level limit); still the user's query.
        raise InvalidQueryError(f"the search query could not be run: {exc}") from exc


def _search(conn: sqlite3.Connection, query: Query, names: list[str]) -> list[SearchHit]:
    agent = "AND s.agent_name = ?" if query.agent_name is not None else ""
    scope = "AND s.scope = ?" if query.scope is not None else ""
    per_index = (
        *(value for value in (query.match, query.agent_name, query.scope) if value is not None),
        now_ts(),
    )
    union = " UNION ALL ".join(
        _RANKED.format(
            name=name,
            table=_INDEXES[name],
            agent=agent,
            scope=scope,
            only=_ONLY if name == "messages_fts" and query.read_only else "",
        )
        for name in names
    )
    ranked = conn.execute(
        f"SELECT * FROM ({union}) ORDER BY score, session_id, seq LIMIT ?",
        (*(per_index * len(names)), query.limit),
    ).fetchall()
    snippets: dict[tuple[str, int], str] = {}
    for name in names:
        ids = [rowid for rowid, _, source, _, _ in ranked if source == name]
        if ids:
            sql = _SNIPPETS.format(name=name, table=_INDEXES[name], ids=",".join("?" * len(ids)))
            for rowid, snippet in conn.execute(sql, (*query.highlight, query.match, *ids)):
                snippets[name, rowid] = snippet
    hits = [
        conn.execute(_HIT, (snippets.get((source, rowid), ""), -score, rowid)).fetchone()[0]
        for rowid, score, source, _, _ in ranked
    ]
    return HITS.validate_json(json_array(hits))


def stats(conn: sqlite3.Connection, scope: str | None) -> HistoryStats:
    now = now_ts()
    with snapshot(conn):
        totals = conn.execute(TOTALS, (scope, now)).fetchone()
        by_agent = conn.execute(BY_AGENT, (scope, now)).fetchall()
        by_model = conn.execute(BY_MODEL, (scope, now)).fetchall()
    return HistoryStats.model_validate(
        {
            **dict(zip(TOTAL_KEYS, totals, strict=True)),
            "sessions_by_agent": dict(by_agent),
            "sessions_by_model": dict(by_model),
            "size_bytes": None,
        }
    )


def file_size(path: Path) -> int:
    """The database's size on disk: the file and its write-ahead log."""
    return sum(file.stat().st_size for file in (path, Path(f"{path}-wal")) if file.exists())
