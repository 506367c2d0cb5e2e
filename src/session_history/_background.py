"""The background event loop, :func:`run_sync`, and the blocking driver: how blocking code calls
async code.

One event loop runs in a daemon thread, shared by the whole process and started on first use.
:func:`run_sync` (the integrations' sync methods stand on it) hands each call to it with
``asyncio.run_coroutine_threadsafe``: one hand-off per call, which also carries the caller's
context variables (anyio's blocking portal makes two: it spawns the task through a second round
trip to the loop; ``bench/bench_sync_door.py`` measured twice the cost).

Because that loop is not the caller's, a call works from plain code and from a thread whose event
loop is running alike (that loop waits; nothing deadlocks). Backends whose driver binds
connections to a loop (asyncpg's pool) keep them here, so that blocking calls, which already run
here, reach them without a second hand-off.

The store's own blocking door (:class:`~session_history.SyncSessionHistory`) goes one step
further with :func:`drive`: it runs the store's coroutine in the calling thread itself, with no
event loop, in *blocking mode* (a context variable). In that mode the few places where the store
waits go through :func:`wait` and :func:`elsewhere`, which block the thread instead of suspending
the coroutine: a SQLite operation is handed straight to the database's worker thread
and waited for on a ``concurrent.futures.Future`` (two thread switches, not four), while what
needs a loop (opening a driver, a PostgreSQL call, an ``async def`` hook) is run on the background
loop and waited for there. So the coroutine runs to its end in one step, and both doors still share
one implementation.

This module imports nothing of ours: the store, its blocking door and the backends all stand on it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import ParamSpec, TypeVar

__all__ = [
    "background_loop",
    "drive",
    "elsewhere",
    "iterate_sync",
    "run_sync",
    "wait",
]

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
    return _on_background(_call(fn, *args, **kwargs))


def iterate_sync(iterator: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async iterator from synchronous code, each step on the background loop."""
    while True:
        try:
            yield run_sync(iterator.__anext__)
        except StopAsyncIteration:
            return


_BLOCKING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "session_history_blocking", default=False
)


async def wait(future: concurrent.futures.Future[T]) -> T:
    """The result of a thread's work: blocking for it in blocking mode, else awaiting it."""
    if _BLOCKING.get():
        return future.result()
    return await asyncio.wrap_future(future)


async def elsewhere(coro: Coroutine[object, object, T]) -> T:
    """Await ``coro``, which needs an event loop: here in async code; in blocking mode on the
    background loop (not in blocking mode there), the caller's thread waiting for it."""
    if not _BLOCKING.get():
        return await coro
    return _on_background(_unblocked(coro))


async def _unblocked(coro: Coroutine[object, object, T]) -> T:
    _BLOCKING.set(False)  # in this task's own copy of the context
    return await coro


def drive(fn: Callable[P, Coroutine[object, object, T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run the store's coroutine ``fn(*args, **kwargs)`` to its end in this thread, in blocking
    mode: its waits block this thread (see the module docstring), so it never suspends.

    Raises:
        RuntimeError: the coroutine suspended anyway (it awaited something that is not the
            store's), which is a bug of ours: use :func:`run_sync` for such coroutines.
    """
    _refuse_on_background()
    context = contextvars.copy_context()
    context.run(_BLOCKING.set, True)
    coro = context.run(fn, *args, **kwargs)
    try:
        context.run(coro.send, None)
    except StopIteration as done:
        result: T = done.value
        return result
    coro.close()
    raise RuntimeError(
        f"{getattr(fn, '__qualname__', fn)!r} suspended in blocking mode; run it with run_sync"
    )


def _refuse_on_background() -> asyncio.AbstractEventLoop:
    """The background loop, unless this thread is its own (which would wait on itself)."""
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
    return loop


def _on_background(coro: Coroutine[object, object, T]) -> T:
    try:
        loop = _refuse_on_background()
    except RuntimeError:
        coro.close()
        raise
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result()
    except BaseException:
        # Interrupted while waiting (KeyboardInterrupt): do not leave the call running behind.
        future.cancel()
        raise
