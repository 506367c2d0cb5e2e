"""What every ``HistorySession`` method stands on: the session's :class:`~.layout.View`, kept
in step with the store, and the session's head moved to the SDK branch an operation is on.

The SDK's current branch belongs to each session object (a new one starts on ``main``), as in
``AdvancedSQLiteSession``; the store's head is the branch last used. An operation on a branch
the head is not on moves the head there first (``branch_session`` to the branch's tip), having
written down where the branch it leaves ends. Every write expects the revision the view was
read at, so a writer elsewhere (another process, another session object) never has an append
land on a branch it did not mean: the view is read again and the operation retried.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from agents import TResponseInputItem

from session_history import ChatMessage, RevisionConflictError, SessionHistory

from ._lock import SessionLock
from .convert import ITEM_KEY, to_items
from .layout import BRANCHES_KEY, MAIN, View
from .structure import turn_count

__all__ = ["Door"]

T = TypeVar("T")

# Writers racing on one session each retry: this many tries is plenty for any real contention.
_ATTEMPTS = 20


class Door:
    """The shared state and steps of a ``HistorySession`` (see the module docstring)."""

    session_id: str
    history: SessionHistory
    _lock: SessionLock
    _logger: logging.Logger
    _current: str
    _generation: int
    _view: View | None

    @property
    def _current_branch_id(self) -> str:
        """The SDK branch this session object reads and writes (``AdvancedSQLiteSession``'s
        attribute of that name, which code written for the SDK reads)."""
        return self._current

    async def _sync(self) -> View:
        """The view as stored now (the summary read; the state too when it changed)."""
        summary = await self.history.get_summary(self.session_id)
        view = self._view
        if summary is None:
            view = View.missing()
        elif view is None or view.revision != summary.revision:
            state = await self.history.load_state(self.session_id) or {}
            view = View.of(summary, state)
        self._view = view
        if view.generation != self._generation:  # cleared elsewhere: every branch is gone
            self._generation, self._current = view.generation, MAIN
        return view

    async def _retrying(self, operation: Callable[[View], Awaitable[T]], *, read: bool) -> T:
        """Run ``operation`` on the view, again on a fresh one when a write finds the session
        changed. A write may start from the view this object last wrote (its expected revision
        checks it); a read always looks."""
        for attempt in range(_ATTEMPTS):
            cached = self._view
            if read or attempt or cached is None or cached.revision is None:
                view = await self._sync()
            else:
                view = cached
            try:
                return await operation(view)
            except RevisionConflictError:
                if attempt == _ATTEMPTS - 1:
                    raise
            except BaseException:
                self._view = None  # part of it may have been written: look again next time
                raise
            self._view = None
        raise AssertionError("unreachable")

    async def _head_on(self, view: View, name: str) -> None:
        """Put the session's head on branch ``name`` (recording where the branch it leaves
        ends), in two writes that each expect the revision before them."""
        if view.revision is None or view.head == name:
            return
        if view.head_turns is None:
            view.head_turns = turn_count(await self._head_items(view, None))
        left = view.record(view.head)
        left.update(tip=view.head_tip, length=view.head_length, turns=view.head_turns)
        target = view.record(name)
        view.head = name
        summary = await self.history.set_state(
            self.session_id, {BRANCHES_KEY: view.layout()}, expected_revision=view.revision
        )
        view.revision = summary.revision
        if target["tip"] is None:
            summary = await self.history.branch_session(
                self.session_id, at=0, expected_revision=view.revision
            )
        else:
            summary = await self.history.branch_session(
                self.session_id, from_entry=target["tip"], expected_revision=view.revision
            )
        view.adopt(summary)
        view.head_turns = int(target["turns"])

    async def _head_items(self, view: View, limit: int | None) -> list[TResponseInputItem]:
        """The items of the head's branch (the last ``limit`` of them), read from the end."""
        if view.revision is None or view.head_length == 0:
            return []
        stored = await self.history.load_metadata(self.session_id, ITEM_KEY, last=limit)
        if all(isinstance(item, dict) for item in stored):
            return cast(list[TResponseInputItem], stored)
        if limit is None:
            messages = await self.history.load_messages(self.session_id)
            return [item for message in messages for item in to_items(message)]
        # A message written outside the SDK may stand for several items or none: read a window
        # of the last messages, and widen it if short.
        window = limit
        while True:
            messages = await self.history.load_messages(self.session_id, last=window)
            items = [item for message in messages for item in to_items(message)]
            if len(items) >= limit or len(messages) < window:
                return items[-limit:]
            window *= 2

    async def _head_messages(self, view: View) -> list[ChatMessage]:
        if view.revision is None or view.head_length == 0:
            return []
        return await self.history.load_messages(self.session_id)

    async def _branch_read(
        self, branch: str | None, read: Callable[[View], Awaitable[T]], empty: T
    ) -> T:
        """``read`` of branch ``branch`` (this object's current one when None), with the head
        moved there if it is elsewhere; ``empty`` for a branch that holds nothing."""

        async def on_branch(view: View) -> T:
            # Named once the view is read: a clear elsewhere has put this object on main.
            name = self._current if branch is None else branch
            if view.revision is None or view.length(name) == 0:
                return empty
            await self._head_on(view, name)
            return await read(view)

        async with self._lock:
            return await self._retrying(on_branch, read=True)
