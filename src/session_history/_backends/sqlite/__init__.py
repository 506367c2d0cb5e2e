"""The SQLite backend: one file, WAL mode, one aiosqlite connection.

Split by concern: :mod:`.connection` (opening the file, the hand-off to the worker thread),
:mod:`.schema` and :mod:`.reference` (migrations), :mod:`.writes`, :mod:`.reads`,
:mod:`.search` (search and statistics) and :mod:`.transfer` (export and import). Each operation is
a plain ``sqlite3`` function run on the worker thread as one transaction; this class prepares its
arguments (message JSON, bound parameters) on the caller's side and hands it over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from ..._models import (
    ChatMessage,
    ExportedSession,
    HistoryStats,
    SearchHit,
    Session,
    SessionSummary,
    Usage,
)
from ..._search import Term, fts5_query
from ..base import (
    AppendResult,
    ExportBatch,
    ImportOutcome,
    ListQuery,
    PopResult,
    PruneResult,
    SaveResult,
)
from ..shared import QmarkParams, list_sql, message_rows, prune_rules
from . import reads, search, transfer, writes
from .connection import SQLiteConnection
from .schema import upgrade

__all__ = ["SQLiteBackend"]


class SQLiteBackend:
    """Sessions in one SQLite file."""

    def __init__(self, path: Path, *, busy_timeout: float = 30.0, read_only: bool = False) -> None:
        self.path = Path(path)
        self._db = SQLiteConnection(self.path, busy_timeout=busy_timeout, read_only=read_only)
        self.location = self._db.location

    async def open(self) -> None:
        await self._db.open()
        try:
            await upgrade(self._db)
        except BaseException:
            await self._db.close()
            raise

    async def close(self) -> None:
        await self._db.close()

    # -- writes ------------------------------------------------------------------------------

    async def create_session(
        self, session: Session, *, want_summary: bool
    ) -> SessionSummary | None:
        return await self._db.write(
            writes.create, session, message_rows(session.messages), want_summary
        )

    async def save_session(self, session: Session, *, want_summary: bool) -> SaveResult:
        return await self._db.write(
            writes.save, session, message_rows(session.messages), want_summary
        )

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[ChatMessage],
        *,
        usage: Usage | None,
        create: Session | None,
        want_summary: bool,
    ) -> AppendResult:
        rows = message_rows(messages)
        first = (create, message_rows(create.messages)) if create is not None else None
        return await self._db.write(
            writes.append, session_id, messages, rows, usage, first, want_summary
        )

    async def pop_messages(self, session_id: str, n: int, *, want_summary: bool) -> PopResult:
        return await self._db.write(writes.pop, session_id, n, want_summary)

    async def delete_session(self, session_id: str) -> bool:
        return await self._db.write(writes.delete, session_id)

    async def prune(
        self, *, max_sessions: int | None, older_than: datetime | None, dry_run: bool
    ) -> list[PruneResult]:
        rules = prune_rules(max_sessions, older_than, QmarkParams)
        door = self._db.read if dry_run else self._db.write  # a dry run only reads
        return await door(writes.prune, rules, dry_run)

    # -- reads -------------------------------------------------------------------------------

    async def load_session(self, session_id: str) -> Session | None:
        return await self._db.read(reads.load, session_id)

    async def load_messages(self, session_id: str, last: int | None) -> list[ChatMessage]:
        return await self._db.read(reads.load_messages, session_id, last)

    async def get_summary(self, session_id: str) -> SessionSummary | None:
        return await self._db.read(reads.get_summary, session_id)

    async def list_sessions(self, query: ListQuery) -> list[SessionSummary]:
        p = QmarkParams()
        sql = list_sql(query, select="summary", table="sessions", p=p)
        return await self._db.read(reads.select_summaries, sql, p.values)

    async def session_count(self) -> int:
        return await self._db.read(reads.count)

    # -- search, stats, export and import ------------------------------------------------------

    async def search(
        self,
        terms: list[Term],
        *,
        agent_name: str | None,
        limit: int,
        highlight: tuple[str, str],
    ) -> list[SearchHit]:
        params: list[object] = [highlight[0], highlight[1], fts5_query(terms)]
        if agent_name is not None:
            params.append(agent_name)
        params.append(limit)
        return await self._db.read(search.search, search.search_sql(agent_name), params)

    async def stats(self) -> HistoryStats:
        stats = await self._db.read(search.stats)
        return stats.model_copy(update={"size_bytes": search.file_size(self.path)})

    async def export_batch(self, cursor: int, limit: int) -> ExportBatch:
        return await self._db.read(transfer.export_batch, cursor, limit)

    async def import_sessions(
        self, sessions: Sequence[ExportedSession], *, want_summary: bool
    ) -> list[ImportOutcome]:
        prepared = [(session, message_rows(session.messages)) for session in sessions]
        return await self._db.write(transfer.import_sessions, prepared, want_summary)
