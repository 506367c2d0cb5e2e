"""One asyncpg pool per event loop, closed with its loop, and the way calls share it.

asyncpg's pool belongs to the event loop that made it. A session history is used from any loop
(the application's, each test's, the blocking doors' background loop), so the store keeps a pool
per loop, made on the first call from that loop: an operation then runs where it was awaited, with
no hand-off between threads.

A pool ends with whichever comes first: the history's ``close()``, or its loop shutting down.
For the second, each pool starts an async generator on its loop whose ``finally`` closes the
pool: ``asyncio.run``, ``asyncio.Runner`` (pytest-asyncio, anyio) close every async generator
of a loop before closing it, so the pool's connections are closed on their own loop, politely,
and nothing is left open when a test's loop or a script's ``asyncio.run`` ends. ``close()``
finishes that generator itself, so a closed pool leaves nothing behind on a loop that goes on.

How calls share the pool (``pool_size`` connections at most): a call takes a free connection,
or opens one while there are fewer than ``pool_size``, or waits its turn (first come, first
served) up to ``pool_timeout``. When the server refuses a connection because of a limit
(``CONNECTION LIMIT`` of the role or the database, ``max_connections``), the pool works with the
connections it has, as if it were that size, and tries to grow again a while later.
"""

from __future__ import annotations

import asyncio
import select
from collections import deque
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    Pool = asyncpg.Pool[asyncpg.Record]
    Conn = PoolConnectionProxy[asyncpg.Record]

__all__ = ["Conn", "LoopPool", "closed", "queries_sent", "unread"]

REGROW_AFTER = 10.0
"""Seconds after a refused connection before the pool tries to open more again (the limit may
have been other clients' connections, which come and go)."""

_TIMED_OUT = object()


class LoopPool:
    """A pool on one loop, the connection kept out of it between calls, and the queue of calls
    waiting for a connection.

    The kept connection: a call that finds it free (sequential callers always do) skips the
    pool's acquire and release, which cost about 0.1 ms a call (a task for asyncio.shield,
    timeouts, the reset hook). Concurrent calls take connections from the pool as usual. Only
    the pool's own loop touches any of this.

    ``close()`` waits for the calls that took a connection before it to give it back, so a call
    made before the store closed runs to its end (asyncpg's own close would refuse the ones still
    waiting for a connection); a call after it finds ``closing`` set.
    """

    def __init__(
        self, pool: Pool, loop: asyncio.AbstractEventLoop, *, size: int, timeout: float
    ) -> None:
        self.pool = pool
        self.loop = loop
        self.size = size
        self.timeout = timeout
        self._held: Conn | None = None
        self._held_free = False
        self._out = 0  # connections taken from asyncpg's pool (the kept one too) or being opened
        self._limit: int | None = None  # what the server let us open, after it refused one more
        self._regrow_at = 0.0
        self._waiters: deque[asyncio.Future[object]] = deque()
        self._closing = False
        self._closed = False
        self._users = 0
        self._idle: asyncio.Event | None = None
        self._sentinel: AsyncGenerator[None, None] | None = None
        self.refusal: str | None = None
        """The server's words when it last refused a connection for a limit."""

    async def watch_loop(self) -> None:
        """Close this pool when its loop shuts down its async generators."""
        sentinel = _close_at_shutdown(self)
        await sentinel.__anext__()
        self._sentinel = sentinel  # a strong reference: the loop keeps only a weak one

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def connections(self) -> int:
        """How many connections this pool has open (or is opening) now."""
        return self._out

    async def take(self) -> Conn:
        """A connection, to be given back with :meth:`give_back` (or :meth:`untake` when
        taking fails). Waits up to ``timeout`` for one (``TimeoutError``); a connection the
        server refuses raises what asyncpg raised."""
        self._users += 1
        if self._held_free and not self._waiters:
            held = await self._take_held()
            if held is not None:
                return held
        deadline = self.loop.time() + self.timeout
        refusals = 0
        while True:
            held = await self._take_held() if self._held_free else None
            if held is not None:
                return held
            if self._limit is not None and self.loop.time() >= self._regrow_at:
                self._limit = None
            if self._out < (self._limit or self.size):
                self._out += 1  # counted before the await: concurrent callers see it taken
                try:
                    remaining = max(deadline - self.loop.time(), 0.001)
                    conn = await self.pool.acquire(timeout=remaining)
                    self.refusal = None
                    return conn
                except BaseException as exc:
                    self._out -= 1
                    if not _refused_for_a_limit(exc):
                        raise
                    self.refusal = str(exc)
                    if self.loop.time() >= deadline:
                        raise TimeoutError from exc
                    refusals += 1
                    if self._out:
                        # The server allows what we have: work with it, and wait our turn.
                        self._limit = self._out
                        self._regrow_at = self.loop.time() + REGROW_AFTER
                    else:
                        # Not even one: other clients hold the slots; try again soon.
                        delay = min(0.05 * 2**refusals, 0.5, deadline - self.loop.time())
                        await asyncio.sleep(max(delay, 0))
                        continue
            got = await self._wait_turn(deadline)
            if got is not None:
                return got

    async def _take_held(self) -> Conn | None:
        held = self._held
        self._held_free = False
        if held is None or not closed(held):
            return held
        # Closed while it waited (the server went away): the pool replaces it.
        self._held = None
        await self._release(held)
        return None

    async def _wait_turn(self, deadline: float) -> Conn | None:
        """Wait for a connection given back (returned) or for room to open one (None)."""
        turn: asyncio.Future[object] = self.loop.create_future()
        self._waiters.append(turn)
        timer = self.loop.call_at(deadline, _expire, turn)
        try:
            got = await turn
        except BaseException:
            timer.cancel()
            if turn.done() and not turn.cancelled() and turn.result() is not _TIMED_OUT:
                # Handed a connection (or room) just as we were cancelled: pass it on.
                handed = turn.result()
                if handed is None:
                    self._pass_on(None)
                else:
                    self._users += 1  # give_back ends a use
                    await self.give_back(handed, reusable=True, broken=False)  # type: ignore[arg-type]
            raise
        timer.cancel()
        if got is _TIMED_OUT:
            raise TimeoutError
        return got  # type: ignore[return-value]

    def _pass_on(self, got: Conn | None) -> bool:
        """Give a connection (or room for one: None) to the first caller still waiting;
        False when no one waits."""
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(got)
                return True
        return False

    def untake(self) -> None:
        """A :meth:`take` that failed, or a call, is over."""
        self._users -= 1
        if self._users == 0 and self._idle is not None:
            self._idle.set()

    async def give_back(self, conn: Conn, *, reusable: bool, broken: bool) -> None:
        try:
            await self._give_back(conn, reusable=reusable, broken=broken)
        finally:
            self.untake()

    async def _give_back(self, conn: Conn, *, reusable: bool, broken: bool) -> None:
        if reusable and self._waiters and self._pass_on(conn):
            return  # straight to the next caller in line: first come, first served
        if reusable and not self._closing and self._held in (None, conn):
            self._held, self._held_free = conn, True
            return
        if self._held is conn:
            self._held, self._held_free = None, False
        if broken and not closed(conn):
            # In no state to reuse: close it now, so the pool opens a fresh one next time.
            conn.terminate()
        await self._release(conn)
        if self._waiters:
            self._pass_on(None)  # room for one more: the next in line opens it

    async def _release(self, conn: Conn) -> None:
        # Back through the pool exactly once: it waits out a cancelled query and replaces a
        # closed connection (asyncpg shields this from a cancellation of the call). Counted
        # as given back only once it is: close() must know of a release cut short.
        await self.pool.release(conn)
        self._out -= 1

    async def close(self) -> None:
        """Close the pool (on its own loop). Safe to call twice; the first call closes."""
        if self._closing:
            return
        self._closing = True
        if self._users:
            self._idle = asyncio.Event()
            await self._idle.wait()
        held, free = self._held, self._held_free
        self._held, self._held_free = None, False
        if held is not None and free:
            await self._release(held)  # one in use is released by its call, when it ends
        if self._out > 0:
            # A release that never finished (its task was cancelled while the pool waited out
            # a cancelled query, as asyncio.run does at its end): the pool's graceful close
            # would wait for it forever.
            self.pool.terminate()
        else:
            await self.pool.close()  # on error or cancellation, asyncpg terminates the pool
        self._closed = True
        sentinel, self._sentinel = self._sentinel, None
        if sentinel is not None and not getattr(sentinel, "ag_running", False):
            # Finish the loop's watcher (its ``finally`` finds the pool closed): left
            # suspended, it would keep this pool, and its connections' buffers, alive in a
            # reference cycle until the garbage collector's slowest generation ran.
            await sentinel.aclose()

    async def close_at_shutdown(self) -> None:
        """The loop is ending: close, or end at once a close that was cut short (nothing on
        this loop will run after this)."""
        if not self._closing and not self._users:
            await self.close()
        elif not self._closed:
            # A call still holds a connection (its task was cancelled as the loop ends, inside
            # a transaction the pool would wait out): a graceful close would wait for it forever.
            self._closing = self._closed = True
            self.pool.terminate()


def _expire(turn: asyncio.Future[object]) -> None:
    if not turn.done():
        turn.set_result(_TIMED_OUT)


def _refused_for_a_limit(exc: BaseException) -> bool:
    """Whether the server refused a connection because of a connection limit (SQLSTATE 53300:
    the role's or the database's CONNECTION LIMIT, or max_connections)."""
    return getattr(exc, "sqlstate", None) == "53300"


async def _close_at_shutdown(pool: LoopPool) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        if not pool.closed:
            await pool.close_at_shutdown()


def closed(conn: Conn) -> bool:
    """Whether a pooled connection can no longer be used: closed, or already released (asyncpg's
    pool releases a connection itself when the server closes it; the proxy then refuses every
    method, ``is_closed`` included)."""
    import asyncpg

    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:
        return True


def queries_sent(conn: Conn) -> int | None:
    """How many statements the connection has sent to the server so far, or None when that
    cannot be known. asyncpg counts a statement once its bytes are handed to the socket (its
    pool reads the same private counter, ``max_queries``), so an unchanged count across a failed
    call means the call never reached the server and may run again on another connection."""
    protocol = getattr(getattr(conn, "_con", None), "_protocol", None)
    count = getattr(protocol, "queries_count", None)
    return count if isinstance(count, int) else None


def unread(conn: Conn) -> bool:
    """Whether the server sent something the connection has not read yet, which an idle
    connection only has when the server ended it (a FATAL "terminating connection" and the
    close, not yet seen because the loop has not run since). A look at the socket (under a
    microsecond, against the ~100 microseconds of a call); False when it cannot be had."""
    transport = getattr(getattr(conn, "_con", None), "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):  # closed meanwhile
        return True
    return bool(readable)
