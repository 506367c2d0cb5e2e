"""One asyncpg pool per event loop, closed with its loop.

asyncpg's pool belongs to the event loop that made it. A session history is used from any loop
(the application's, each test's, the blocking doors' background loop), so the store keeps a pool
per loop, made on the first call from that loop: an operation then runs where it was awaited, with
no hand-off between threads.

A pool ends with whichever comes first: the history's ``close()``, or its loop shutting down.
For the second, each pool starts an async generator on its loop whose ``finally`` closes the
pool: ``asyncio.run``, ``asyncio.Runner`` (pytest-asyncio, anyio) close every async generator
of a loop before closing it, so the pool's connections are closed on their own loop, politely,
and nothing is left open when a test's loop or a script's ``asyncio.run`` ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    Pool = asyncpg.Pool[asyncpg.Record]
    Conn = PoolConnectionProxy[asyncpg.Record]

__all__ = ["Conn", "LoopPool", "closed"]


class LoopPool:
    """A pool on one loop, and the connection kept out of it between calls.

    The kept connection: a call that finds it free (sequential callers always do) skips the
    pool's acquire and release, which cost about 0.1 ms a call (a task for asyncio.shield,
    timeouts, the reset hook). Concurrent calls take connections from the pool as usual. Only
    the pool's own loop touches any of this.

    ``close()`` waits for the calls that took a connection before it to give it back, so a call
    made before the store closed runs to its end (asyncpg's own close would refuse the ones still
    waiting for a connection); a call after it finds ``closing`` set.
    """

    def __init__(self, pool: Pool, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self.loop = loop
        self._held: Conn | None = None
        self._held_free = False
        self._closing = False
        self._users = 0
        self._idle: asyncio.Event | None = None
        self._sentinel: AsyncIterator[None] | None = None

    async def watch_loop(self) -> None:
        """Close this pool when its loop shuts down its async generators."""
        sentinel = _close_at_shutdown(self)
        await sentinel.__anext__()
        self._sentinel = sentinel  # a strong reference: the loop keeps only a weak one

    @property
    def closing(self) -> bool:
        return self._closing

    async def take(self) -> Conn:
        """A connection, to be given back with :meth:`give_back` (also when taking fails)."""
        self._users += 1
        held = self._held
        if held is not None and self._held_free:
            self._held_free = False
            if not closed(held):
                return held
            # Closed while it waited (the server went away): the pool replaces it.
            self._held = None
            await self.pool.release(held)
        return await self.pool.acquire()

    def untake(self) -> None:
        """A :meth:`take` that failed is over."""
        self._users -= 1
        if self._users == 0 and self._idle is not None:
            self._idle.set()

    async def give_back(self, conn: Conn, *, reusable: bool, broken: bool) -> None:
        try:
            await self._give_back(conn, reusable=reusable, broken=broken)
        finally:
            self.untake()

    async def _give_back(self, conn: Conn, *, reusable: bool, broken: bool) -> None:
        if reusable and not self._closing and self._held in (None, conn):
            self._held, self._held_free = conn, True
            return
        if self._held is conn:
            self._held, self._held_free = None, False
        if broken and not closed(conn):
            # In no state to reuse: close it now, so the pool opens a fresh one next time.
            conn.terminate()
        # Back through the pool exactly once: it waits out a cancelled query and replaces a
        # closed connection (asyncpg shields this from a cancellation of the call).
        await self.pool.release(conn)

    async def close(self) -> None:
        """Close the pool (on its own loop). Safe to call twice."""
        if self._closing:
            return
        self._closing = True
        if self._users:
            self._idle = asyncio.Event()
            await self._idle.wait()
        held, free = self._held, self._held_free
        self._held, self._held_free = None, False
        if held is not None and free:
            await self.pool.release(held)  # one in use is released by its call, when it ends
        await self.pool.close()


async def _close_at_shutdown(pool: LoopPool) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await pool.close()


def closed(conn: Conn) -> bool:
    """Whether a pooled connection can no longer be used: closed, or already released (asyncpg's
    pool releases a connection itself when the server closes it; the proxy then refuses every
    method, ``is_closed`` included)."""
    import asyncpg

    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:
        return True
