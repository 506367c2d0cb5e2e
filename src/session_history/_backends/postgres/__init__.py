"""The PostgreSQL backend: the same store on a server, for many machines.

Chosen by giving the config a ``postgresql://`` URL (extra ``postgres``: the asyncpg driver).
Split by concern: :mod:`.connection` (the pool, its loop, the hand-off of each operation),
:mod:`.schema` (migrations), :mod:`.writes`, :mod:`.reads`, :mod:`.search` (search and
statistics) and :mod:`.transfer` (export and import). This class prepares each operation's
parameters on the caller's side (message JSON, search text) and hands it over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import JsonValue

from ..._lines import HugeLine
from ..._models import (
    Branch,
    ChatMessage,
    ExportedSession,
    HistoryStats,
    SearchHit,
    Session,
    SessionSummary,
    Usage,
    message_counts,
)
from ..._search import Term
from ..base import (
    AppendResult,
    BranchTarget,
    ExportBatch,
    ExportParts,
    ImportOutcome,
    ListQuery,
    PopResult,
    PruneResult,
    SaveResult,
    WriteContext,
)
from ..shared import DollarParams, list_sql, prune_rules, with_entry_ids
from ..tree import Range
from ..windows import PathRead
from . import branching, reads, removal, search, transfer, writes
from .connection import PostgresConnection, ident
from .reads import SUMMARY_JSON
from .schema import upgrade
from .writes import MessageColumns, SessionRow

if TYPE_CHECKING:
    from .connection import Conn

__all__ = ["PostgresBackend"]


class PostgresBackend:
    """Sessions in a PostgreSQL schema."""

    def __init__(
        self,
        url: str,
        *,
        busy_timeout: float = 30.0,
        read_only: bool = False,
        pool_size: int | None = None,
        pool_timeout: float | None = None,
    ) -> None:
        self._db = PostgresConnection(
            url,
            busy_timeout=busy_timeout,
            read_only=read_only,
            pool_size=pool_size,
            pool_timeout=pool_timeout,
        )
        self.location = self._db.location
        self.schema = self._db.schema

    async def open(self) -> None:
        await self._db.open(self._upgrade)

    async def _upgrade(self, conn: Conn) -> None:
        await upgrade(
            conn, self.schema, ident(self.schema), self.location, read_only=self._db.read_only
        )

    async def close(self) -> None:
        await self._db.close()

    # -- writes ------------------------------------------------------------------------------

    async def create_session(
        self, session: Session, *, want_summary: bool
    ) -> SessionSummary | None:
        row, columns = SessionRow.of(session), MessageColumns.of(session.messages)
        return await self._db.write(writes.create, row, columns, want_summary)

    async def save_session(
        self, session: Session, *, ids: Sequence[str], want_summary: bool
    ) -> SaveResult:
        row = SessionRow.of(session)
        return await self._db.write(writes.save, session, ids, row, want_summary)

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[ChatMessage],
        *,
        usage: Usage | None,
        create: Session | None,
        context: WriteContext,
        state: dict[str, JsonValue] | None,
        retry_check: bool,
        want_summary: bool,
    ) -> AppendResult:
        columns = MessageColumns.of(messages)
        turns, tool_calls = message_counts(messages)
        usage_json = usage.model_dump_json() if usage is not None else None
        first = None
        if create is not None:
            # The integrations pass ``create`` on every append, and it ends with ``messages``:
            # encode only its own messages, not these a second time.
            own = create.messages[: len(create.messages) - len(messages)]
            first = (SessionRow.of(create), MessageColumns.of(own) + columns)
        return await self._db.write(
            writes.append,
            session_id,
            columns,
            turns,
            tool_calls,
            usage_json,
            first,
            context,
            state,
            retry_check,
            want_summary,
        )

    async def pop_messages(
        self, session_id: str, n: int, *, context: WriteContext, want_summary: bool
    ) -> PopResult:
        return await self._db.write(removal.pop, session_id, n, context, want_summary)

    async def branch_session(
        self, session_id: str, target: BranchTarget, *, context: WriteContext
    ) -> SessionSummary:
        return await self._db.write(branching.branch, session_id, target, context)

    async def fork_session(
        self,
        source_id: str,
        new_id: str,
        target: BranchTarget,
        *,
        source_scope: str | None,
        scope: str | None,
        metadata: dict[str, JsonValue] | None,
        expires_at: datetime | None,
    ) -> SessionSummary:
        return await self._db.write(
            branching.fork, source_id, new_id, target, source_scope, scope, metadata, expires_at
        )

    async def set_state(
        self, session_id: str, state: dict[str, JsonValue], *, context: WriteContext
    ) -> SessionSummary:
        return await self._db.write(writes.set_state, session_id, state, context)

    async def delete_session(self, session_id: str, scope: str | None) -> bool:
        return await self._db.write(removal.delete, session_id, scope)

    async def prune(
        self,
        *,
        max_sessions: int | None,
        older_than: datetime | None,
        expired: bool,
        scope: str | None,
        dry_run: bool,
    ) -> list[PruneResult]:
        rules = prune_rules(max_sessions, older_than, DollarParams, expired=expired, scope=scope)
        door = self._db.read if dry_run else self._db.write  # a dry run only reads
        return await door(removal.prune, rules, dry_run)

    # -- reads -------------------------------------------------------------------------------

    async def load_session(self, session_id: str, scope: str | None) -> Session | None:
        return await self._db.read(reads.load, session_id, scope)

    async def load_messages(
        self, session_id: str, last: int | None, scope: str | None
    ) -> list[ChatMessage]:
        return await self._db.read(reads.load_messages, session_id, last, scope)

    async def load_metadata(
        self, session_id: str, key: str, last: int | None, scope: str | None
    ) -> list[JsonValue | None]:
        return await self._db.read(reads.load_metadata, session_id, key, last, scope)

    async def load_state(self, session_id: str, scope: str | None) -> dict[str, JsonValue] | None:
        return await self._db.read(reads.load_state, session_id, scope)

    async def list_branches(self, session_id: str, scope: str | None) -> list[Branch] | None:
        return await self._db.read(reads.list_branches, session_id, scope)

    async def get_summary(self, session_id: str, scope: str | None) -> SessionSummary | None:
        return await self._db.read(reads.get_summary, session_id, scope)

    async def list_sessions(self, query: ListQuery) -> list[SessionSummary]:
        p = DollarParams()
        sql = list_sql(query, select=SUMMARY_JSON, table="sessions", p=p)
        return await self._db.read(reads.select_summaries, sql, p.values)

    async def session_count(self, scope: str | None) -> int:
        return await self._db.read(reads.count, scope)

    # -- search, stats, export and import ------------------------------------------------------

    async def search(
        self,
        terms: list[Term],
        *,
        agent_name: str | None,
        scope: str | None,
        limit: int,
        highlight: tuple[str, str],
    ) -> list[SearchHit]:
        sql, params = search.search_sql(terms, agent_name, scope, limit, highlight)
        return await self._db.read(search.search, sql, params)

    async def stats(self, scope: str | None) -> HistoryStats:
        return await self._db.read(search.stats, scope)

    async def export_batch(self, cursor: int, limit: int) -> ExportBatch:
        return await self._db.read(transfer.export_batch, cursor, limit)

    async def export_parts(self, cursor: int, limit: int, whole: int) -> ExportParts:
        return await self._db.read(transfer.export_parts, cursor, limit, whole)

    async def read_path(self, session_id: str, scope: str | None) -> PathRead | None:
        return await self._db.read(reads.read_path, session_id, scope)

    async def read_window(self, ranges: Sequence[Range], tip: str | None) -> list[str] | None:
        return await self._db.read(reads.read_window, ranges, tip)

    async def import_huge(self, huge: HugeLine) -> list[ImportOutcome]:
        return [await self._db.write(transfer.import_huge, huge)]

    async def import_sessions(
        self, sessions: Sequence[ExportedSession], *, want_summary: bool
    ) -> list[ImportOutcome]:
        prepared = []
        for session in sessions:
            messages = with_entry_ids(session.messages)[0]
            prepared.append(
                (session, SessionRow.of(session, session.updated_at), MessageColumns.of(messages))
            )
        return await self._db.write(transfer.import_sessions, prepared, want_summary)
