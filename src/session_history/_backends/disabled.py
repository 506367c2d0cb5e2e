"""The backend of a disabled history: no I/O, and the reference design's answers.

A history made with ``HistoryConfig()`` stores nothing: writes do nothing, reads find nothing
(``None``, ``[]``, ``0``, ``False``). Having a backend that answers so keeps those rules in one
place instead of a guard in every method of the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import JsonValue

from .._errors import SessionNotFoundError
from .._lines import HugeLine
from .._models import (
    Branch,
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
from .tree import Range
from .windows import PathRead

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

    async def save_session(
        self, session: Session, *, ids: Sequence[str], want_summary: bool
    ) -> SaveResult:
        return SaveResult(None, [])

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
        return AppendResult(None, False, False)

    async def pop_messages(
        self, session_id: str, n: int, *, context: WriteContext, want_summary: bool
    ) -> PopResult:
        return PopResult([], None)

    # The tree's writes answer as every read does: there is no such session.
    async def branch_session(
        self, session_id: str, target: BranchTarget, *, context: WriteContext
    ) -> SessionSummary:
        raise SessionNotFoundError(session_id)

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
        raise SessionNotFoundError(source_id)

    async def set_state(
        self, session_id: str, state: dict[str, JsonValue], *, context: WriteContext
    ) -> SessionSummary:
        raise SessionNotFoundError(session_id)

    async def list_branches(self, session_id: str, scope: str | None) -> list[Branch] | None:
        return None

    async def load_state(self, session_id: str, scope: str | None) -> dict[str, JsonValue] | None:
        return None

    async def load_session(self, session_id: str, scope: str | None) -> Session | None:
        return None

    async def load_messages(
        self, session_id: str, last: int | None, scope: str | None
    ) -> list[ChatMessage]:
        return []

    async def load_metadata(
        self, session_id: str, key: str, last: int | None, scope: str | None
    ) -> list[JsonValue | None]:
        return []

    async def get_summary(self, session_id: str, scope: str | None) -> SessionSummary | None:
        return None

    async def list_sessions(self, query: ListQuery) -> list[SessionSummary]:
        return []

    async def session_count(self, scope: str | None) -> int:
        return 0

    async def delete_session(self, session_id: str, scope: str | None) -> bool:
        return False

    async def prune(
        self,
        *,
        max_sessions: int | None,
        older_than: datetime | None,
        expired: bool,
        scope: str | None,
        dry_run: bool,
    ) -> list[PruneResult]:
        return []

    async def search(
        self,
        terms: list[Term],
        *,
        agent_name: str | None,
        scope: str | None,
        limit: int,
        highlight: tuple[str, str],
    ) -> list[SearchHit]:
        return []

    async def stats(self, scope: str | None) -> HistoryStats:
        return EMPTY_STATS

    async def export_batch(self, cursor: int, limit: int) -> ExportBatch:
        return ExportBatch([], None)

    async def export_parts(self, cursor: int, limit: int, whole: int) -> ExportParts:
        return ExportParts([], None)

    async def read_path(self, session_id: str, scope: str | None) -> PathRead | None:
        return None

    async def read_window(self, ranges: Sequence[Range], tip: str | None) -> list[str] | None:
        return []

    async def import_huge(self, huge: HugeLine) -> list[ImportOutcome]:
        return []

    async def import_sessions(
        self, sessions: Sequence[ExportedSession], *, want_summary: bool
    ) -> list[ImportOutcome]:
        return []
