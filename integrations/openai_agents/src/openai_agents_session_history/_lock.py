"""One lock per session of a store, shared by every ``HistorySession`` on it in this process.

``pop_item`` of a message written outside the SDK that stands for several items takes two
writes (remove the message, put back all but its last item); an ``add_items`` or
``clear_session`` between them would land before the items put back, or see them brought back.
The store has no "replace the last message" write, so the session's writes hold this lock.

It works from any event loop and thread, as the session does (an ``asyncio.Lock`` binds to one
loop): the state is guarded by a ``threading.Lock`` held for a few statements, and a waiter
waits on a ``concurrent.futures.Future`` that the holder hands the lock over with.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import weakref
from collections import deque
from types import TracebackType

from session_history import SessionHistory

__all__ = ["SessionLock", "lock_for"]


class SessionLock:
    """A mutex for ``async with``, from any event loop or thread; FIFO, cancellable."""

    def __init__(self) -> None:
        self._state = threading.Lock()
        self._held = False
        self._waiters: deque[concurrent.futures.Future[None]] = deque()

    async def __aenter__(self) -> None:
        with self._state:
            if not self._held:
                self._held = True
                return
            waiter: concurrent.futures.Future[None] = concurrent.futures.Future()
            self._waiters.append(waiter)
        try:
            await asyncio.wrap_future(waiter)
        except BaseException:
            with self._state:
                # cancel() is False only once the holder handed the lock over: pass it on.
                handed_over = not waiter.cancel()
            if handed_over:
                self._release()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()

    def _release(self) -> None:
        with self._state:
            while self._waiters:
                waiter = self._waiters.popleft()
                if waiter.set_running_or_notify_cancel():  # False: it gave up waiting
                    waiter.set_result(None)  # still held, now by the waiter
                    return
            self._held = False


_guard = threading.Lock()
_locks: weakref.WeakKeyDictionary[SessionHistory, weakref.WeakValueDictionary[str, SessionLock]]
_locks = weakref.WeakKeyDictionary()


def lock_for(history: SessionHistory, session_id: str) -> SessionLock:
    """The lock of ``session_id`` on ``history``: the same object for every caller while one of
    them keeps it (held weakly here, so a server's many sessions leave nothing behind)."""
    with _guard:
        by_id = _locks.setdefault(history, weakref.WeakValueDictionary())
        lock = by_id.get(session_id)
        if lock is None:
            lock = by_id[session_id] = SessionLock()
        return lock
