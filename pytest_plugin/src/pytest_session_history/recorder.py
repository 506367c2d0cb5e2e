"""``HookRecorder``: a plugin that records every session-history hook call, in order, and so
knows every session its store saw: the one an agent run created, without knowing its id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from session_history import ChatMessage, Session, SessionHistory, SessionSummary, hookimpl, run_sync

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
    ``.calls`` with all of them in the order they happened; and the sessions they were about:
    ``.session_ids``, ``.sessions``, ``.session`` (loaded from the store when asked for).

    A plain class on purpose: pluggy refuses to register a plugin equal to one already
    registered, and two dataclass recorders with no calls yet would compare equal.
    """

    def __init__(self) -> None:
        self.saved: list[SavedCall] = []
        self.popped: list[PoppedCall] = []
        self.pruned: list[PrunedCall] = []
        self.deleted: list[DeletedCall] = []
        self.calls: list[SavedCall | PoppedCall | PrunedCall | DeletedCall] = []
        self._stores: dict[str, SessionHistory] = {}

    def clear(self) -> None:
        """Forget what was recorded so far (the sessions seen too)."""
        for calls in (self.saved, self.popped, self.pruned, self.deleted, self.calls):
            calls.clear()
        self._stores.clear()

    # -- the sessions ---------------------------------------------------------------------------

    @property
    def session_ids(self) -> list[str]:
        """The id of every session written to (created, saved, appended or popped), in the order
        of their first write."""
        return list(self._stores)

    @property
    def session(self) -> Session:
        """The one session the store saw, as stored now: what "the session this agent run
        created" means in a test. Blocking; ``await recorder.aget_session()`` is the async door.

        Raises:
            AssertionError: The store saw no session, or several (their ids are listed).
        """
        __tracebackhide__ = True
        return run_sync(self.aget_session)

    @property
    def sessions(self) -> list[Session]:
        """Every session the store saw that is still stored, in the order of their first write.
        Blocking; ``await recorder.aget_sessions()`` is the async door."""
        return run_sync(self.aget_sessions)

    async def aget_session(self) -> Session:
        """The one session the store saw (see :attr:`session`)."""
        __tracebackhide__ = True
        if len(self._stores) != 1:
            seen = ", ".join(map(repr, self._stores)) or "none"
            raise AssertionError(
                f"expected the store to see one session, it saw {len(self._stores)} ({seen}); "
                "use .sessions, or .session_ids and load the one you mean"
            )
        (session,) = await self.aget_sessions()
        return session

    async def aget_sessions(self) -> list[Session]:
        """Every session the store saw that is still stored (see :attr:`sessions`)."""
        loaded = [await store.load_session(sid) for sid, store in self._stores.items()]
        return [session for session in loaded if session is not None]

    def _seen(self, history: SessionHistory, session_id: str) -> None:
        self._stores.setdefault(session_id, history)

    @property
    def operations(self) -> list[str]:
        """The operations of the saved calls, in order: ``["create", "append", ...]``."""
        return [call.operation for call in self.saved]

    @hookimpl
    def session_history_saved(
        self,
        history: SessionHistory,
        summary: SessionSummary,
        new_messages: Sequence[ChatMessage],
        operation: str,
    ) -> None:
        self._seen(history, summary.id)
        call = SavedCall(summary, list(new_messages), operation)
        self.saved.append(call)
        self.calls.append(call)

    @hookimpl
    def session_history_popped(
        self, history: SessionHistory, summary: SessionSummary, popped: Sequence[ChatMessage]
    ) -> None:
        self._seen(history, summary.id)
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
            f"pruned={len(self.pruned)} deleted={len(self.deleted)} "
            f"sessions={self.session_ids!r}>"
        )
