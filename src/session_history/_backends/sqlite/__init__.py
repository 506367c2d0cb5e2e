"""The SQLite backend: one file, WAL mode, one aiosqlite connection.

Split by concern: :mod:`.files` (the file before SQLite sees it, and driver errors said plainly),
:mod:`.connection` (the hand-off to the worker thread, group commit), :mod:`.schema` and
:mod:`.reference` (migrations), :mod:`.writes` (what adds), :mod:`.branching` (what moves a
head), :mod:`.removal` (what removes), :mod:`.rows` (what they share), :mod:`.reads`,
:mod:`.index` (the deferred search index), :mod:`.search` (search and statistics) and
:mod:`.transfer` (export and import).
Each operation is a plain ``sqlite3`` function run on the worker thread; this class prepares its
arguments (message JSON, bound parameters) on the caller's side and hands it over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from pydantic import JsonValue

from ..._codec import messages_array
from ..._errors import SessionHistoryError
from ..._lines import HugeLine
from ..._models import (
    ChatMessage,
    ExportedSession,
    HistoryStats,
    SearchHit,
    Session,
    SessionSummary,
    Usage,
    message_counts,
)
from ..._search import Term, fts5_query
from ..base import (
    AppendResult,
    BranchTarget,
    ImportOutcome,
    ListQuery,
    PruneResult,
    SaveResult,
    WriteContext,
)
from ..shared import QmarkParams, list_sql, message_rows, prune_rules, with_entry_ids
from . import branching, index, reads, removal, search, transfer, writes
from .connection import SQLiteConnection
from .schema import upgrade

__all__ = ["SQLiteBackend"]


class SQLiteBackend:
    """Sessions in one SQLite file."""

    def __init__(self, path: Path, *, busy_timeout: float = 30.0, read_only: bool = False) -> None:
        self.path = Path(path)
        self._db = SQLiteConnection(
            self.path,
            busy_timeout=busy_timeout,
            read_only=read_only,
            after_writes=index.catch_up_if_due,
        )
        self.location = self._db.location

    async def open(self) -> None:
        await self._db.open()
        try:
            await upgrade(self._db)
            await self._db.maintain(writes.register)
        except BaseException:
            await self._db.close()
            raise

    async def close(self) -> None:
        """Close, after bringing the search index up to date (so the next search, in any
        process, finds it so). If that fails (another process kept the write lock past the
        busy timeout), the next search does it: every write is committed, so close quietly."""
        try:
            if not self._db.read_only:
                with contextlib.suppress(SessionHistoryError):
                    await self._db.maintain(index.catch_up)
        finally:
            await self._db.close()

    # -- writes ------------------------------------------------------------------------------

    async def create_session(
        self, session: Session, *, want_summary: bool
    ) -> SessionSummary | None:
        rows = writes.bodies_of(session.messages)
        return await self._db.write(writes.create, session, rows, want_summary)

    async def save_session(
        self, session: Session, *, ids: Sequence[str], want_summary: bool
    ) -> SaveResult:
        return await self._db.write(writes.save, session, session.messages, ids, want_summary)

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
        turns, tool_calls = message_counts(messages)
        usage_json = usage.model_dump_json() if usage is not None else None
        rows = message_rows(messages)
        first = None
        if create is not None:
            # The integrations pass ``create`` on every append, and it ends with ``messages``:
            # encode only its own messages, not these a second time.
            own = create.messages[: len(create.messages) - len(messages)]
            first = (create, [*message_rows(own), *rows])
        ids = [row.entry_id for row in rows]
        return await self._db.write(
            writes.append,
            session_id,
            rows,
            ids,
            turns,
            tool_calls,
            usage_json,
            first,
            context,
            state,
            retry_check,
            want_summary,
        )

    pop_messages = SQLiteConnection.writing(removal.pop)
    branch_session = SQLiteConnection.writing(branching.branch)
    set_state = SQLiteConnection.writing(writes.set_state)
    delete_session = SQLiteConnection.writing(removal.delete)

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

    async def prune(
        self,
        *,
        max_sessions: int | None,
        older_than: datetime | None,
        expired: bool,
        scope: str | None,
        dry_run: bool,
    ) -> list[PruneResult]:
        rules = prune_rules(max_sessions, older_than, QmarkParams, expired=expired, scope=scope)
        door = self._db.read if dry_run else self._db.write  # a dry run only reads
        return await door(removal.prune, rules, dry_run)

    # -- reads -------------------------------------------------------------------------------

    load_session = SQLiteConnection.reading(reads.load)
    load_messages = SQLiteConnection.reading(reads.load_messages)
    load_metadata = SQLiteConnection.reading(reads.load_metadata)
    load_state = SQLiteConnection.reading(reads.load_state)
    list_branches = SQLiteConnection.reading(reads.list_branches)
    get_summary = SQLiteConnection.reading(reads.get_summary)
    session_count = SQLiteConnection.reading(reads.count)
    export_batch = SQLiteConnection.reading(transfer.export_batch)
    export_parts = SQLiteConnection.reading(transfer.export_parts)
    read_path = SQLiteConnection.reading(reads.read_path)
    read_window = SQLiteConnection.reading(reads.read_window)

    async def list_sessions(self, query: ListQuery) -> list[SessionSummary]:
        p = QmarkParams()
        sql = list_sql(query, select="summary", table="sessions", p=p)
        return await self._db.read(reads.select_summaries, sql, p.values)

    # -- search, stats and import -----------------------------------------------------------

    async def search(
        self,
        terms: list[Term],
        *,
        agent_name: str | None,
        scope: str | None,
        limit: int,
        highlight: tuple[str, str],
    ) -> list[SearchHit]:
        query = search.Query(
            fts5_query(terms), agent_name, scope, limit, highlight, self._db.read_only
        )
        return await self._db.read(search.search, query)

    async def stats(self, scope: str | None) -> HistoryStats:
        stats = await self._db.read(search.stats, scope)
        return stats.model_copy(update={"size_bytes": search.file_size(self.path)})

    async def import_huge(self, huge: HugeLine) -> list[ImportOutcome]:
        return [await self._db.write(transfer.import_huge, huge)]

    async def import_sessions(
        self, sessions: Sequence[ExportedSession], *, want_summary: bool
    ) -> list[ImportOutcome]:
        prepared = [
            (session, messages_array(with_entry_ids(session.messages)[0])) for session in sessions
        ]
        return await self._db.write(transfer.import_sessions, prepared, want_summary)
