"""``HookRecorder``: a plugin that records every session-history hook call, in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from session_history import ChatMessage, SessionSummary, hookimpl

__all__ = ["DeletedCall", "HookRecorder", "PoppedCall", "PrunedCall", "SavedCall"]


@dataclass(frozen=True)
class SavedCall:
    """One ``session_history_saved`` call."""

    summary: SessionSummary
    new_messages: list[ChatMessage]
    operation: str


@dataclass(frozen=True)
class PoppedCall:
    """One ``session_history_popped`` call."""

    summary: SessionSummary
    popped: list[ChatMessage]


@dataclass(frozen=True)
class PrunedCall:
    """One ``session_history_pruned`` call."""

    pruned: list[SessionSummary]
    reason: str

    @property
    def ids(self) -> list[str]:
        return [summary.id for summary in self.pruned]


@dataclass(frozen=True)
class DeletedCall:
    """One ``session_history_deleted`` call."""

    session_id: str


class HookRecorder:
    """Records hook calls for assertions: ``.saved``, ``.popped``, ``.pruned``, ``.deleted``, and
    ``.calls``
    with all of them in the order they happened.

    A plain class on purpose: pluggy refuses to register a plugin equal to one already
    registered, and two dataclass recorders with no calls yet would compare equal.
    """

    def __init__(self) -> None:
        self.saved: list[SavedCall] = []
        self.popped: list[PoppedCall] = []
        self.pruned: list[PrunedCall] = []
        self.deleted: list[DeletedCall] = []
        self.calls: list[SavedCall | PoppedCall | PrunedCall | DeletedCall] = []

    def clear(self) -> None:
        """Forget what was recorded so far."""
        for calls in (self.saved, self.popped, self.pruned, self.deleted, self.calls):
            calls.clear()

    @property
    def operations(self) -> list[str]:
        """The operations of the saved calls, in order: ``["create", "append", ...]``."""
        return [call.operation for call in self.saved]

    @hookimpl
    def session_history_saved(
        self, summary: SessionSummary, new_messages: Sequence[ChatMessage], operation: str
    ) -> None:
        call = SavedCall(summary, list(new_messages), operation)
        self.saved.append(call)
        self.calls.append(call)

    @hookimpl
    def session_history_popped(
        self, summary: SessionSummary, popped: Sequence[ChatMessage]
    ) -> None:
        call = PoppedCall(summary, list(popped))
        self.popped.append(call)
        self.calls.append(call)

    @hookimpl
    def session_history_pruned(self, pruned: Sequence[SessionSummary], reason: str) -> None:
        call = PrunedCall(list(pruned), reason)
        self.pruned.append(call)
        self.calls.append(call)

    @hookimpl
    def session_history_deleted(self, session_id: str) -> None:
        call = DeletedCall(session_id)
        self.deleted.append(call)
        self.calls.append(call)

    def __repr__(self) -> str:
        return (
            f"<HookRecorder saved={len(self.saved)} popped={len(self.popped)} "
            f"pruned={len(self.pruned)} deleted={len(self.deleted)}>"
        )
