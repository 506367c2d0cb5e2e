"""The data session-history keeps: sessions, their messages, tool calls, usage and summaries.

These are pydantic v2 models with the fields of the reference design (a Rust ``SessionHistory``)
plus a ``metadata`` dict on messages and sessions for what has no field of its own.

Time: every datetime is timezone-aware UTC once validated. A naive datetime is taken to be UTC
(not local time: agents run in containers whose local zone is rarely meaningful); an aware one in
another zone is converted, so ordering by time is right whatever offset a caller used.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ._ids import valid_session_id

__all__ = [
    "MAX_COUNT",
    "Branch",
    "ChatMessage",
    "ExportedBranch",
    "ExportedSession",
    "HistoryStats",
    "ImportReport",
    "Role",
    "SearchHit",
    "Session",
    "SessionSummary",
    "ToolCall",
    "Usage",
    "UtcDatetime",
    "message_counts",
    "number_problem",
    "utc_now",
]


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
"""A datetime normalised to UTC; naive values are taken to be UTC already."""


# -- issue 20 (hardening): numbers a store keeps exactly. A small change, validators only: the ----
# models refuse NaN and +-Infinity (pydantic would write them as null) with allow_inf_nan=False,
# and token counts outside 0..2**63 - 1 (PostgreSQL's bigint, SQLite's integer) with these.

MAX_COUNT = 2**63 - 1
"""The largest count both databases hold exactly (a signed 64-bit integer)."""

_SUM = {"sum": True}
"""The validation context of :meth:`Usage.__add__`: a sum of stored totals is not checked."""


def number_problem(value: object, path: str, *, counts: bool) -> str | None:
    """What is wrong with the numbers of a JSON value, or None: a float that is not finite, or
    (with ``counts``, as in token usage) an integer that is not a count from 0 to 2**63 - 1."""
    if _numbers_fit(value, counts):  # the common answer, without building a path per value
        return None
    if isinstance(value, float):
        return f"{path} is {value!r}, which JSON cannot hold (it would be stored as null)"
    if isinstance(value, int):
        return f"{path} is {value}, not a count from 0 to {MAX_COUNT}"
    items = value.items() if isinstance(value, dict) else enumerate(value)  # type: ignore[arg-type]
    for key, item in items:
        where = f"{path}.{key}" if isinstance(value, dict) else f"{path}[{key}]"
        problem = number_problem(item, where, counts=counts)
        if problem is not None:
            return problem
    return None


def _numbers_fit(value: object, counts: bool) -> bool:
    # A loop over a stack, exact types first: a message's metadata is checked at every write,
    # and this is about 1 us for an OpenAI item, half the time of serialising it.
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or item is None or isinstance(item, bool):
            continue
        if kind is dict or isinstance(item, dict):
            stack.extend(item.values())  # type: ignore[attr-defined]
        elif kind is list or isinstance(item, list | tuple):
            stack.extend(item)  # type: ignore[arg-type]
        elif isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, int) and counts and not 0 <= item <= MAX_COUNT:
            return False
    return True


# -- end of the issue 20 change (see also Usage and HistoryStats) ----------------------------


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class Role(enum.StrEnum):
    """Who wrote a message. Plain strings validate, case-insensitively."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"

    @classmethod
    def _missing_(cls, value: object) -> Role | None:
        # Called only when the exact lookup fails, so the common case stays in pydantic-core:
        # the reference writes roles in lower case, hand-written JSON says "User" as often.
        if isinstance(value, str):
            for member in cls:
                if member.value == value.lower():
                    return member
        return None


class ToolCall(BaseModel):
    """A tool call requested by the assistant."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # issue 20

    id: str
    name: str
    arguments: dict[str, JsonValue] = Field(default_factory=dict)


class Usage(BaseModel):
    """Token usage. Provider-specific details (cached tokens, reasoning tokens...) are kept as extra
    fields and summed like the standard ones when usage is accumulated."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)  # issue 20

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0

    # issue 20: counts that fit 64 bits, floats finite, in the provider's own fields too.
    @model_validator(mode="after")
    def _counts_fit(self, info: ValidationInfo) -> Self:
        # Usage given in Python only: stored JSON (read as JSON) that an older version wrote
        # with any integer must still load, and the store checks what it writes (_arguments).
        if info.mode == "python" and info.context is not _SUM:
            fields = {**self.__dict__, **(self.__pydantic_extra__ or {})}
            problem = number_problem(fields, "usage", counts=True)
            if problem is not None:
                raise ValueError(problem)
        return self

    def __add__(self, other: Usage) -> Usage:
        fields = _add_numbers(self.model_dump(), other.model_dump())
        return Usage.model_validate(fields, context=_SUM)  # issue 20: a total may pass 2**63


def _add_numbers(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    merged = dict(a)
    for key, value in b.items():
        mine = merged.get(key)
        if isinstance(mine, bool) or isinstance(value, bool):
            merged[key] = value
        elif isinstance(mine, int | float) and isinstance(value, int | float):
            merged[key] = mine + value
        elif isinstance(mine, dict) and isinstance(value, dict):
            merged[key] = _add_numbers(mine, value)
        elif value is not None:
            merged[key] = value
    return merged


class ChatMessage(BaseModel):
    """One message of a session: a user turn, an assistant reply or tool call, a tool result."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # issue 20

    role: Role
    content: str | None = None
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[ToolCall] | None = None
    reasoning: str | None = None
    raw_content_blocks: list[JsonValue] | None = None
    tool_metadata: JsonValue | None = None
    timestamp: UtcDatetime | None = None
    id: str | None = None
    provider_response_id: str | None = None
    status: str | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    """Framework data with no field of its own (for example a LangChain message's extra fields)."""
    entry_id: str | None = Field(default=None, min_length=1)
    """The stored entry's id: set on every message read from the store. On a write, None lets
    the store give one (a time-ordered UUIDv7); a caller's own id is kept, and an append whose
    ids are already on the session's path stores nothing again (a safe retry)."""

    def __eq__(self, other: object) -> bool:
        # An entry id is compared only when both messages have one: a message as a caller built
        # it equals the message stored from it (which the store gave an id), so code that
        # compares what it wrote with what it reads works as before entries had ids.
        if not isinstance(other, ChatMessage):
            return NotImplemented
        if self.entry_id is not None and other.entry_id is not None:
            return super().__eq__(other)
        return _without_entry_id(self) == _without_entry_id(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, as every pydantic model


def _without_entry_id(message: ChatMessage) -> dict[str, Any]:
    return {key: value for key, value in message.__dict__.items() if key != "entry_id"}


def message_counts(messages: Iterable[ChatMessage]) -> tuple[int, int]:
    """Return ``(turn_count, tool_call_count)`` as the reference's ``compute_counts`` does.

    A turn is an assistant message that has content; tool calls are summed over all messages.
    """
    turns = 0
    tool_calls = 0
    for message in messages:
        if message.role is Role.ASSISTANT and message.content is not None:
            turns += 1
        if message.tool_calls:
            tool_calls += len(message.tool_calls)
    return turns, tool_calls


class Session(BaseModel):
    """A whole agent session: who ran it, with which model, and every message in order."""

    model_config = ConfigDict(allow_inf_nan=False)  # issue 20

    session_id: Annotated[str, AfterValidator(valid_session_id)] = Field(min_length=1)
    agent_name: str
    model: str
    messages: list[ChatMessage] = Field(default_factory=list)
    started_at: UtcDatetime | None = None
    """When the session began; the store sets it to the time of the first write when missing."""
    ended_at: UtcDatetime | None = None
    usage: Usage | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    """Title, user, tags: whatever the application wants to find the session by later."""
    scope: str | None = None
    """Who owns the session (a user, tenant or channel): listing, search, stats and pruning
    filter by it, and a read or write given another scope finds no such session."""
    expires_at: UtcDatetime | None = None
    """After this time the session reads as missing everywhere; ``prune(expired=True)`` deletes
    it. ``HistoryConfig.session_ttl`` sets it on every write."""
    state: dict[str, JsonValue] = Field(default_factory=dict)
    """A framework's own fields kept beside the messages (deferred tool requests, turn usage...),
    written in the same transaction as an append (``append_messages(..., state=...)``)."""


class SessionSummary(BaseModel):
    """What listing returns: a session without its messages, with counts kept up to date by the
    store so that listing never reads a message.

    Its times come from the store, always in UTC; they are typed ``AwareDatetime`` rather than
    converted by a Python validator, which would cost a third of the time of listing.
    """

    id: str
    agent_name: str
    model: str
    message_count: int
    turn_count: int
    tool_call_count: int
    started_at: AwareDatetime
    updated_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    usage: Usage | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    scope: str | None = None
    expires_at: AwareDatetime | None = None
    revision: int = 1
    """Changes on every change to the session (append, pop, branch, save, state); give it back
    as ``expected_revision`` to refuse a write when someone else wrote first."""
    head: str | None = None
    """The entry id of the last message of the current branch (None when empty)."""
    forked_from: str | None = None
    """The session this one was forked from (its id, even once that session is deleted)."""
    forked_at: str | None = None
    """The entry of ``forked_from`` the fork starts after (None: forked with no messages)."""


class Branch(BaseModel):
    """One branch of a session: the path from the first entry to ``tip``."""

    tip: str | None
    """The entry id of the branch's last message (None for an empty branch)."""
    length: int
    """How many messages the branch holds, from the first."""
    updated_at: AwareDatetime
    current: bool
    """Whether this is the session's current branch (the one reads and appends follow)."""


class SearchHit(BaseModel):
    """One message found by :meth:`~session_history.SessionHistory.search`."""

    session_id: str
    seq: int
    """The message's position in its session (0 is the first message)."""
    role: Role
    snippet: str
    """The text around the match, with each match between the search's ``highlight`` marks."""
    rank: float
    """Relevance (bm25 on SQLite): higher is better; hits come best first."""
    agent_name: str
    model: str
    entry_id: str
    """The message's entry id (it may be on a branch other than the session's current one)."""


class HistoryStats(BaseModel):
    """What a store holds, in numbers."""

    sessions: int
    messages: int
    turns: int
    tool_calls: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    sessions_by_agent: dict[str, int]
    sessions_by_model: dict[str, int]
    oldest_update: AwareDatetime | None
    newest_update: AwareDatetime | None
    size_bytes: int | None
    """The database's size on disk, where the backend can tell."""

    # issue 20: a database written before counts were checked may hold any usage; its totals
    # are shown at the nearest bound of 0..2**63 - 1 rather than failing every stats call.
    @field_validator("input_tokens", "output_tokens", "total_tokens", mode="before")
    @classmethod
    def _within_counts(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return min(max(int(value), 0), MAX_COUNT)
        return value


class ExportedBranch(BaseModel):
    """A branch of an exported session other than its current one: the messages after the entry
    ``parent`` (None: from the first), which is on the current path or on an earlier branch."""

    model_config = ConfigDict(extra="forbid")

    parent: str | None
    messages: list[ChatMessage] = Field(min_length=1)
    updated_at: UtcDatetime | None = None


class ExportedSession(Session):
    """A session as one line of an export: the session and when it was last updated, so an
    import restores the listing order too; its tree (entry ids on every message, the other
    branches, where it was forked from) and its revision. A line of an earlier release, with
    none of these, imports as a one-branch session."""

    messages: list[ChatMessage]
    """Required here: a line without it is a mistake to report, not an empty session."""
    updated_at: UtcDatetime | None = None
    revision: int | None = Field(default=None, ge=1)
    branches: list[ExportedBranch] = Field(default_factory=list)
    forked_from: str | None = None
    forked_at: str | None = None


class ImportReport(BaseModel):
    """What an import did. ``errors`` holds ``(line number, message)`` for lines it skipped."""

    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = Field(default_factory=list)

    @property
    def sessions(self) -> int:
        return self.added + self.replaced + self.unchanged
