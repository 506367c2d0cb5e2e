"""The backend of a disabled history: no I/O, and the reference design's answers.

A history made with ``HistoryConfig()`` stores nothing: writes do nothing, reads find nothing
(``None``, ``[]``, ``0``, ``False``). Having a backend that answers so keeps those rules in one
place instead of a guard in every method of the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import JsonValue

from .._models import (
    ChatMessage,
    ExportedSession,
    HistoryStats,
    SearchHit,
    Session,
    SessionSummary,
    Usage,
)
from .._search import Term
from .base import (
    AppendResult,
    ExportBatch,
    ImportOutcome,
    ListQuery,
    PopResult,
    PruneResult,
    SaveResult,
)

__all__ = ["DisabledBackend"]

EMPTY_STATS = HistoryStats(
    sessions=0,
    messages=0,
    turns=0,
    tool_calls=0,
    input_tokens=0,
    output_tokens=0,
    total_tokens=0,
    sessions_by_agent={},
    sessions_by_model={},
    oldest_update=None,
    newest_update=None,
    size_bytes=None,
)


class DisabledBackend:
    """Stores nothing, finds nothing."""

    location = "disabled"

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def create_session(
        self, session: Session, *, want_summary: bool
    ) -> SessionSummary | None:
        return None

    async def save_session(self, session: Session, *, want_summary: bool) -> SaveResult:
        return SaveResult(None, [])

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[ChatMessage],
        *,
        usage: Usage | None,
        create: Session | None,
        want_summary: bool,
    ) -> AppendResult:
        return AppendResult(None, False)

    async def pop_messages(self, session_id: str, n: int, *, want_summary: bool) -> PopResult:
        return PopResult([], None)

    async def load_session(self, session_id: str) -> Session | None:
        return None

    async def load_messages(self, session_id: str, last: int | None) -> list[ChatMessage]:
        return []

    async def load_metadata(
        self, session_id: str, key: str, last: int | None
    ) -> list[JsonValue | None]:
        return []

    async def get_summary(self, session_id: str) -> SessionSummary | None:
        return None

    async def list_sessions(self, query: ListQuery) -> list[SessionSummary]:
        return []

    async def session_count(self) -> int:
        return 0

    async def delete_session(self, session_id: str) -> bool:
        return False

    async def prune(
        self, *, max_sessions: int | None, older_than: datetime | None, dry_run: bool
    ) -> list[PruneResult]:
        return []

    async def search(
        self,
        terms: list[Term],
        *,
        agent_name: str | None,
        limit: int,
        highlight: tuple[str, str],
    ) -> list[SearchHit]:
        return []

    async def stats(self) -> HistoryStats:
        return EMPTY_STATS

    async def export_batch(self, cursor: int, limit: int) -> ExportBatch:
        return ExportBatch([], None)

    async def import_sessions(
        self, sessions: Sequence[ExportedSession], *, want_summary: bool
    ) -> list[ImportOutcome]:
        return []
