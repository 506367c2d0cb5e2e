"""The background event loop and :func:`run_sync`: how blocking code calls async code.

One event loop runs in a daemon thread, shared by the whole process and started on first use.
The blocking doors (:class:`~session_history.SyncSessionHistory`, the integrations' sync methods)
hand each call to it with ``asyncio.run_coroutine_threadsafe``: one hand-off per call, which also
carries the caller's context variables (anyio's blocking portal makes two: it spawns the task
through a second round trip to the loop; ``bench/bench_sync_door.py`` measured twice the cost).

Because that loop is not the caller's, a call works from plain code and from a thread whose event
loop is running alike (that loop waits; nothing deadlocks). Backends whose driver binds
connections to a loop (asyncpg's pool) keep them here, so that blocking calls, which already run
here, reach them without a second hand-off.

This module imports nothing of ours: the store, its blocking door and the backends all stand on it.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import ParamSpec, TypeVar

__all__ = ["background_loop", "iterate_sync", "run_sync"]

P = ParamSpec("P")
T = TypeVar("T")


class _BackgroundLoop:
    """One event loop in a daemon thread, started lazily."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                loop.call_soon(ready.set)
                # A daemon: a process-wide loop has no owner to stop it, and must never keep the
                # interpreter from exiting (what must be closed is the store itself).
                thread = threading.Thread(
                    target=loop.run_forever, name="session-history-sync", daemon=True
                )
                thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def forget(self) -> None:
        """After fork: the child has no background thread, so start a new one on next use."""
        self._lock = threading.Lock()
        self._loop = None


_LOOP = _BackgroundLoop()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_LOOP.forget)


def background_loop() -> asyncio.AbstractEventLoop:
    """The shared background event loop (started if needed)."""
    return _LOOP.loop()


async def _call(fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
    return await fn(*args, **kwargs)


def run_sync(fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``await fn(*args, **kwargs)`` on the background loop and return its result.

    The blocking door onto async code, for integrations' synchronous methods (the LangChain
    adapter's ``messages`` and ``add_messages`` stand on it). It works from plain code and from
    inside a running event loop (that loop waits), and carries the caller's context variables.

    Raises:
        RuntimeError: called from the background loop itself (an ``async def`` hook making a
            blocking call), which would wait on itself forever.
    """
    loop = _LOOP.loop()
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        raise RuntimeError(
            "a blocking session-history call was made from the session-history background loop "
            "itself, which would wait on itself forever; await the async method instead"
        )
    future = asyncio.run_coroutine_threadsafe(_call(fn, *args, **kwargs), loop)
    try:
        return future.result()
    except BaseException:
        # Interrupted while waiting (KeyboardInterrupt): do not leave the call running behind.
        future.cancel()
        raise


def iterate_sync(iterator: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async iterator from synchronous code, each step on the background loop."""
    while True:
        try:
            yield run_sync(iterator.__anext__)
        except StopAsyncIteration:
            return
