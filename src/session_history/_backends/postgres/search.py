"""Search and statistics on PostgreSQL: the generated ``tsvector`` and the summary columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..._codec import HITS, json_array
from ..._models import HistoryStats, SearchHit
from ..._search import Term
from ..shared import DollarParams, live

if TYPE_CHECKING:
    from .connection import Conn

__all__ = ["search", "search_sql", "stats"]

# The sessions stats counts: live ones (of a scope when one is given), ``{live}``. Token totals
# are brought into 0..2**63 - 1 before the cast: a bigint out of range would fail the whole
# query, and a database an older version wrote may add up past it (issue 20).
TOTALS = """
    SELECT count(*) AS sessions, coalesce(sum(message_count), 0) AS messages,
        coalesce(sum(turn_count), 0) AS turns, coalesce(sum(tool_call_count), 0) AS tool_calls,
        least(greatest(coalesce(sum((usage ->> 'input_tokens')::numeric), 0), 0),
            9223372036854775807)::bigint AS input_tokens,
        least(greatest(coalesce(sum((usage ->> 'output_tokens')::numeric), 0), 0),
            9223372036854775807)::bigint AS output_tokens,
        least(greatest(coalesce(sum((usage ->> 'total_tokens')::numeric), 0), 0),
            9223372036854775807)::bigint AS total_tokens,
        min(updated_at) AS oldest_update, max(updated_at) AS newest_update,
        pg_total_relation_size('sessions'::regclass)
            + pg_total_relation_size('messages'::regclass)
            + pg_total_relation_size('lines'::regclass)
            + pg_total_relation_size('branches'::regclass)
            + pg_total_relation_size('session_state'::regclass) AS size_bytes
    FROM sessions WHERE {live}
"""
BY_AGENT = """
    SELECT agent_name, count(*) AS n FROM sessions WHERE {live} GROUP BY agent_name
    ORDER BY n DESC, agent_name
"""
BY_MODEL = """
    SELECT model, count(*) AS n FROM sessions WHERE {live} GROUP BY model ORDER BY n DESC, model
"""


def _tsquery(term: Term, p: DollarParams) -> str:
    """One term as a tsquery: its tokens next to each other, the last as a prefix if asked.
    Tokens are letters and digits only, so quoting them as lexemes is safe."""
    lexemes = [f"'{token}'" for token in term.tokens]
    if term.prefix:
        lexemes[-1] += ":*"
    return f"to_tsquery('simple', {p(' <-> '.join(lexemes))})"


def _option(value: str) -> str:
    """A ``ts_headline`` option value, double-quoted (a quote inside is written twice)."""
    return '"' + value.replace('"', '""') + '"'


def search_sql(
    terms: Sequence[Term],
    agent_name: str | None,
    scope: str | None,
    limit: int,
    highlight: tuple[str, str],
) -> tuple[str, list[object]]:
    """The search statement and its parameters: messages matching every term on any branch, in
    live sessions (of ``scope`` when given), best first; each hit names the session that wrote
    the entry."""
    p = DollarParams()
    query = " && ".join(_tsquery(term, p) for term in terms)
    start, stop = (_option(mark) for mark in highlight)
    options = f"StartSel={start}, StopSel={stop}, MinWords=8, MaxWords=24"
    agent = f"AND s.agent_name = {p(agent_name)}" if agent_name is not None else ""
    sessions = live(p, scope)
    sql = f"""
        WITH q AS (SELECT {query} AS query)
        SELECT json_build_object(
            'session_id', s.session_id, 'seq', m.seq, 'role', m.role,
            'snippet', ts_headline('simple', m.search_text, q.query, {p(options)}),
            'rank', ts_rank_cd(m.search, q.query),
            'agent_name', s.agent_name, 'model', s.model, 'entry_id', m.entry_id)::text
        FROM q, messages AS m JOIN sessions AS s ON s.pk = m.session_pk
        WHERE m.search @@ q.query {agent} AND {sessions}
        ORDER BY ts_rank_cd(m.search, q.query) DESC, s.session_id, m.seq
        LIMIT {p(limit)}
    """
    return sql, p.values


async def search(conn: Conn, sql: str, params: Sequence[object]) -> list[SearchHit]:
    return HITS.validate_json(json_array(r[0] for r in await conn.fetch(sql, *params)))


async def stats(conn: Conn, scope: str | None) -> HistoryStats:
    p = DollarParams()
    where = live(p, scope)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        totals = await conn.fetchrow(TOTALS.format(live=where), *p.values)
        by_agent = await conn.fetch(BY_AGENT.format(live=where), *p.values)
        by_model = await conn.fetch(BY_MODEL.format(live=where), *p.values)
    assert totals is not None
    return HistoryStats.model_validate(
        {
            **dict(totals.items()),
            "sessions_by_agent": {r["agent_name"]: r["n"] for r in by_agent},
            "sessions_by_model": {r["model"]: r["n"] for r in by_model},
        }
    )
