"""Search and statistics on SQLite: the FTS5 index and the summary columns."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from ..._codec import HITS, json_array
from ..._errors import InvalidQueryError
from ..._models import HistoryStats, SearchHit
from .connection import snapshot

__all__ = ["file_size", "search", "search_sql", "stats"]

TOTALS = """
    SELECT count(*), coalesce(sum(message_count), 0), coalesce(sum(turn_count), 0),
        coalesce(sum(tool_call_count), 0),
        coalesce(sum(json_extract(usage, '$.input_tokens')), 0),
        coalesce(sum(json_extract(usage, '$.output_tokens')), 0),
        coalesce(sum(json_extract(usage, '$.total_tokens')), 0),
        min(updated_at), max(updated_at)
    FROM sessions
"""
BY_AGENT = """
    SELECT agent_name, count(*) FROM sessions GROUP BY agent_name
    ORDER BY count(*) DESC, agent_name
"""
BY_MODEL = "SELECT model, count(*) FROM sessions GROUP BY model ORDER BY count(*) DESC, model"
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


def search_sql(agent_name: str | None) -> str:
    """Parameters: the two highlight marks, the FTS5 query, the agent (if given), the limit."""
    agent = "AND s.agent_name = ?" if agent_name is not None else ""
    return f"""
        SELECT json_object(
            'session_id', s.session_id, 'seq', m.seq, 'role', m.role,
            'snippet', snippet(messages_fts, 0, ?, ?, '…', 16),
            'rank', -bm25(messages_fts), 'agent_name', s.agent_name, 'model', s.model)
        FROM messages_fts
        JOIN messages AS m ON m.id = messages_fts.rowid
        JOIN sessions AS s ON s.pk = m.session_pk
        WHERE messages_fts MATCH ? {agent}
        ORDER BY bm25(messages_fts), s.session_id, m.seq
        LIMIT ?
    """


def search(conn: sqlite3.Connection, sql: str, params: Sequence[object]) -> list[SearchHit]:
    try:
        rows = conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        # Terms are quoted, so this is rare (an index-level limit); still the user's query.
        raise InvalidQueryError(f"the search query could not be run: {exc}") from exc
    return HITS.validate_json(json_array(text for (text,) in rows))


def stats(conn: sqlite3.Connection) -> HistoryStats:
    with snapshot(conn):
        totals = conn.execute(TOTALS).fetchone()
        by_agent = conn.execute(BY_AGENT).fetchall()
        by_model = conn.execute(BY_MODEL).fetchall()
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
