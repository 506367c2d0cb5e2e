"""The operations a storage backend provides to :class:`~session_history.SessionHistory`.

The facade owns the rules that do not depend on storage (disabled histories, hooks, config);
a backend owns durability, atomicity and speed. Every write is one transaction that either
commits completely or leaves nothing behind, and none of them may lose a concurrent writer's data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from pydantic import JsonValue

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
from .tree import Range
from .windows import PathRead

__all__ = [
    "AppendResult",
    "Backend",
    "BranchTarget",
    "ExportBatch",
    "ExportParts",
    "ImportOutcome",
    "ListQuery",
    "PopResult",
    "PruneResult",
    "SaveResult",
    "WriteContext",
]


@dataclass(frozen=True)
class WriteContext:
    """What every write that changes a session checks and sets, besides its own arguments."""

    scope: str | None = None
    """The caller's scope: a session of another scope is missing to it."""
    expected_revision: int | None = None
    """Refuse the write (RevisionConflictError, nothing changed) unless the stored revision is
    this one; checked in the write's own transaction."""
    expires_at: datetime | None = None
    """Set the session's expiry to this (``HistoryConfig.session_ttl`` from now); None keeps it."""


@dataclass(frozen=True)
class BranchTarget:
    """Where a branch or a fork starts: after the first ``at`` messages of the current branch,
    or after the entry ``from_entry`` (on the current branch or on another of the session's)."""

    at: int | None = None
    from_entry: str | None = None


@dataclass(frozen=True)
class ListQuery:
    """Which sessions to list: newest ``updated_at`` first, ties broken by session id."""

    limit: int | None = None
    offset: int = 0
    after: tuple[datetime, str] | None = None
    """Keyset cursor: only sessions strictly after this ``(updated_at, id)`` in listing order."""
    agent_name: str | None = None
    model: str | None = None
    updated_since: datetime | None = None
    updated_until: datetime | None = None
    scope: str | None = None


@dataclass(frozen=True)
class SaveResult:
    """What a save wrote: the stored summary (when asked for) and the messages written."""

    summary: SessionSummary | None
    new_messages: Sequence[ChatMessage]


@dataclass(frozen=True)
class AppendResult:
    """What an append did: the stored summary (when asked for), and whether it created the
    session (from ``create``)."""

    summary: SessionSummary | None
    created: bool
    stored: bool = True
    """False when every entry was already on the session's path (a retry): nothing written."""


@dataclass(frozen=True)
class PopResult:
    """What a pop removed (oldest first) and the summary after it (when asked for and something
    was removed)."""

    popped: list[ChatMessage]
    summary: SessionSummary | None


@dataclass(frozen=True)
class PruneResult:
    """Sessions removed by one pruning rule."""

    reason: Literal["max_sessions", "max_age", "expired"]
    pruned: list[SessionSummary]


@dataclass(frozen=True)
class ExportBatch:
    """Sessions as JSON lines, and the cursor to pass for the next batch (None: no more)."""

    lines: list[str]
    next_cursor: int | None


@dataclass(frozen=True)
class ExportParts:
    """Sessions as export lines in pieces, and the cursor for the next batch (None: no more).
    Each line is ``(session id, pieces)``: its text is the pieces in order, a ``str`` as it is
    and a :class:`PathRead` as the bodies of its entries joined by commas, read in windows
    (``windows.py``), so a long session's line is never held whole."""

    lines: list[tuple[str, list[str | PathRead]]]
    next_cursor: int | None


@dataclass(frozen=True)
class ImportOutcome:
    """What importing one session did; ``summary`` only when asked for."""

    session_id: str
    outcome: Literal["added", "replaced", "unchanged"]
    summary: SessionSummary | None
    messages: Sequence[ChatMessage]


class Backend(Protocol):
    """Storage for sessions. ``want_summary`` asks a write to return the stored summary, which
    the facade needs only when a hook will receive it."""

    location: str
    """Where the data lives, for messages (a path, a URL without its password, or "disabled")."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def create_session(
        self, session: Session, *, want_summary: bool
    ) -> SessionSummary | None:
        """Insert a new session and its messages; SessionExistsError if the id is taken."""
        ...

    async def save_session(
        self, session: Session, *, ids: Sequence[str], want_summary: bool
    ) -> SaveResult:
        """Insert or replace; the messages the stored current branch shares with
        ``session.messages`` from the first stay, and only the rest is written (the stored
        branch's other messages are popped). ``ids`` are the entry ids of the messages, for
        those that are new."""
        ...

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
        """Append in order after the head (every message has its ``entry_id``). A missing session
        is stored as ``create`` (its messages already end with these, and its usage includes
        theirs), in the same transaction; without it, SessionNotFoundError. With
        ``retry_check`` (the caller chose some ids), entries already on the path store nothing.
        ``state`` is merged into the session's state in the same transaction."""
        ...

    async def pop_messages(
        self, session_id: str, n: int, *, context: WriteContext, want_summary: bool
    ) -> PopResult:
        """Remove the last ``n`` messages of the current branch in one transaction (entries
        another branch or fork reaches stay stored); a missing session removes nothing."""
        ...

    async def branch_session(
        self, session_id: str, target: BranchTarget, *, context: WriteContext
    ) -> SessionSummary:
        """Move the head to ``target``; the branch left keeps its entries."""
        ...

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
        """A new session whose path is the source's up to ``target``, sharing its entries."""
        ...

    async def list_branches(self, session_id: str, scope: str | None) -> list[Branch] | None: ...

    async def set_state(
        self, session_id: str, state: dict[str, JsonValue], *, context: WriteContext
    ) -> SessionSummary: ...

    async def load_state(
        self, session_id: str, scope: str | None
    ) -> dict[str, JsonValue] | None: ...

    async def load_session(self, session_id: str, scope: str | None) -> Session | None: ...

    async def load_messages(
        self, session_id: str, last: int | None, scope: str | None
    ) -> list[ChatMessage]:
        """The current branch's messages in order, or only its ``last`` ones (read from the
        end: the cost depends on ``last``, not on the session's length); [] when missing."""
        ...

    async def read_path(self, session_id: str, scope: str | None) -> PathRead | None:
        """The ranges of the current branch and the id of its head entry, to read with
        :meth:`read_window`; None when the session is missing."""
        ...

    async def read_window(self, ranges: Sequence[Range], tip: str | None) -> list[str] | None:
        """The stored bodies of the entries of ``ranges``, in path order, in one statement;
        with ``tip``, None unless the last entry of ``ranges`` is still the entry ``tip`` (and
        every entry was there): see ``windows.py`` for why that check suffices."""
        ...

    async def load_metadata(
        self, session_id: str, key: str, last: int | None, scope: str | None
    ) -> list[JsonValue | None]:
        """``metadata[key]`` of each message in order (or of the ``last`` ones), read without
        building the messages; None where a message has no such key."""
        ...

    async def get_summary(self, session_id: str, scope: str | None) -> SessionSummary | None: ...

    async def list_sessions(self, query: ListQuery) -> list[SessionSummary]: ...

    async def session_count(self, scope: str | None) -> int: ...

    async def delete_session(self, session_id: str, scope: str | None) -> bool: ...

    async def prune(
        self,
        *,
        max_sessions: int | None,
        older_than: datetime | None,
        expired: bool,
        scope: str | None,
        dry_run: bool,
    ) -> list[PruneResult]:
        """Remove expired sessions (with ``expired``), then those last updated before
        ``older_than``, then all but the ``max_sessions`` newest (of ``scope``, when given),
        in one transaction; with ``dry_run`` only report them."""
        ...

    async def search(
        self,
        terms: list[Term],
        *,
        agent_name: str | None,
        scope: str | None,
        limit: int,
        highlight: tuple[str, str],
    ) -> list[SearchHit]:
        """Messages matching every term, on any branch, best first."""
        ...

    async def stats(self, scope: str | None) -> HistoryStats: ...

    async def export_batch(self, cursor: int, limit: int) -> ExportBatch:
        """Up to ``limit`` sessions after ``cursor`` (0 to start), each as one JSON line of an
        ``ExportedSession``, in a stable order."""
        ...

    async def export_parts(self, cursor: int, limit: int, whole: int) -> ExportParts:
        """As :meth:`export_batch`, each line in pieces: a session of at most ``whole``
        entries as one piece read now, a longer one with its messages left to read in windows
        (the text is the same)."""
        ...

    async def import_huge(self, huge: HugeLine) -> list[ImportOutcome]:
        """Store one huge line's session in one transaction, as :meth:`import_sessions` stores
        each (added, unchanged or replaced), its messages parsed and written a batch at a time
        (``_lines.py``)."""
        ...

    async def import_sessions(
        self, sessions: Sequence[ExportedSession], *, want_summary: bool
    ) -> list[ImportOutcome]:
        """Store each session in one transaction: added if new, unchanged if identical,
        replaced otherwise."""
        ...
