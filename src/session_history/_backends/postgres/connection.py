"""The PostgreSQL connection pool, the loop it lives on, and the hand-off of each operation.

asyncpg's pool belongs to the event loop that made it, while a session history is used from any
loop (the blocking doors', a test's, the application's). So, as aiosqlite does for SQLite, the
pool lives on session-history's shared background loop and each operation is handed to it as one
coroutine; calls made through a blocking door are already there and go straight through.

Every connection of a store starts with ``search_path`` set to the store's schema, so the SQL of
the other modules names its tables plainly and is the same text for every store.

A connection that breaks (the server restarted, ``pg_terminate_backend``, the network) fails the
call that was using it with :class:`~session_history.ConnectionLostError` and is discarded exactly
once; the pool replaces it, so the next call works on a fresh connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar
from urllib.parse import urlsplit

from ..._background import background_loop
from ..._errors import ConnectionLostError, DatabaseError, InvalidQueryError, SessionHistoryError
from ..._urls import redact_url, scrub, split_schema, url_problem
from ..shared import read_only_refusal, store_closed

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    Pool = asyncpg.Pool[asyncpg.Record]
    Conn = PoolConnectionProxy[asyncpg.Record]

__all__ = ["Conn", "PostgresConnection", "driver", "drop_schema", "ident"]

P = ParamSpec("P")
T = TypeVar("T")


def driver() -> object:
    """The asyncpg module, or a clear error naming the extra that installs it."""
    try:
        import asyncpg
    except ModuleNotFoundError:
        raise DatabaseError(
            "a postgresql:// database needs the asyncpg driver, which is not installed; "
            'install it with: pip install "session-history[postgres]"'
        ) from None
    return asyncpg


def ident(name: str) -> str:
    """``name`` quoted as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


class PostgresConnection:
    """A pool of connections to one schema, on the background loop."""

    def __init__(self, url: str, *, busy_timeout: float, read_only: bool = False) -> None:
        self.location = redact_url(url)
        problem = url_problem(url)
        if problem is not None:
            raise DatabaseError(
                f"{self.location} is not a usable PostgreSQL URL: {problem}; write it as "
                "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME]",
                path=self.location,
            )
        self.dsn, self.schema = split_schema(url)
        self._url = url  # only to take its secrets out of the driver's messages
        self.read_only = read_only
        self.host = _host(self.dsn)
        self.timeout = busy_timeout
        self._pool: Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # One pooled connection kept out of the pool between calls: a call that finds it free
        # (sequential callers always do) skips the pool's acquire and release, which cost about
        # 0.1 ms a call (a task for asyncio.shield, timeouts, the reset hook). Concurrent calls
        # take connections from the pool as usual. Only the pool's loop touches these.
        self._held: Conn | None = None
        self._held_free = False

    async def open(self, upgrade: Callable[[Conn], Awaitable[None]]) -> None:
        """Make the pool and run ``upgrade`` (the migrations) on one of its connections."""
        if self._pool is not None:
            return
        driver()
        self._loop = background_loop()
        self._pool = await self._on_loop(self._connect(upgrade))

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await self._on_loop(self._close_pool(pool))

    async def _on_loop(self, coro: Coroutine[object, object, T]) -> T:
        """Await ``coro`` on the loop that owns the pool: directly when we are on it (calls
        through the blocking doors are), else handed over to it."""
        loop = self._loop
        assert loop is not None
        if asyncio.get_running_loop() is loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    async def _connect(self, upgrade: Callable[[Conn], Awaitable[None]]) -> Pool:
        import asyncpg

        try:
            pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=10,
                command_timeout=self.timeout,
                server_settings={
                    "timezone": "UTC",
                    "application_name": "session-history",
                    "search_path": ident(self.schema),
                },
                reset=_keep_session_state,
            )
        except (ValueError, TypeError, asyncpg.ClientConfigurationError) as exc:
            # What the driver refuses in the URL itself (a parameter's value, say), beyond what
            # url_problem catches: not a lost connection, and no use trying again.
            raise DatabaseError(
                f"{self.location} is not a usable PostgreSQL URL: "
                f"{scrub(str(exc), self._url)}; write it as "
                "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME]",
                path=self.location,
            ) from None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # Never the exception's own text alone: some drivers echo the DSN, password included.
            raise ConnectionLostError(
                f"cannot connect to PostgreSQL at {self.host} ({type(exc).__name__}: "
                f"{scrub(str(exc), self._url)}); check that the server runs and the URL's user, "
                "password and database are right",
                path=self.location,
            ) from None
        try:
            async with pool.acquire() as conn:
                await upgrade(conn)
        except BaseException:
            await pool.close()
            raise
        return pool

    async def _close_pool(self, pool: Pool) -> None:
        held, free = self._held, self._held_free
        self._held, self._held_free = None, False
        if held is not None and free:
            await pool.release(held)  # one in use is released by its call, when it ends
        await pool.close()

    async def read(
        self,
        fn: Callable[Concatenate[Conn, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(connection, *args, **kwargs)``, which only reads, on the pool's loop."""
        return await self._on_loop(self._call(False, self._open_pool(), fn, *args, **kwargs))

    async def write(
        self,
        fn: Callable[Concatenate[Conn, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(connection, *args, **kwargs)``, one statement or one transaction that
        writes, on the pool's loop. Refused before the hand-off when the store is read-only."""
        if self.read_only and self._pool is not None:
            raise read_only_refusal(self.location)
        return await self._on_loop(self._call(True, self._open_pool(), fn, *args, **kwargs))

    def _open_pool(self) -> Pool:
        if self._pool is None or self._loop is None:
            raise store_closed(self.location)
        return self._pool

    async def _call(
        self,
        writing: bool,
        pool: Pool,
        fn: Callable[Concatenate[Conn, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        import asyncpg

        try:
            conn = await self._take(pool)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise self._lost(exc, writing) from exc
        reusable = broken = False
        try:
            result = await fn(conn, *args, **kwargs)
            reusable = True
            return result
        except SessionHistoryError:
            reusable = True
            raise
        except TimeoutError as exc:  # before OSError, of which it is a kind
            broken = True
            raise self._timed_out(writing) from exc
        except asyncpg.PostgresError as exc:
            if isinstance(exc.__cause__, UnicodeEncodeError):
                # Text with lone surrogates (bytes decoded with surrogateescape) has no UTF-8
                # form: the driver refused it before sending, so the connection is as it was.
                reusable = True
                raise InvalidQueryError(
                    f"a value given for {self.location} is not valid Unicode text "
                    f"({exc.__cause__.reason}); nothing was {'written' if writing else 'read'}. "
                    "Pass text decoded from UTF-8."
                ) from exc
            if _is_lost(exc):
                broken = True
                raise self._lost(exc, writing) from exc
            reusable = True  # a refused statement leaves the connection as it was
            raise self._refused(exc, writing) from exc
        except (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError) as exc:
            broken = True
            raise self._lost(exc, writing) from exc
        finally:
            await self._give_back(pool, conn, reusable and not _closed(conn), broken)

    async def _take(self, pool: Pool) -> Conn:
        held = self._held
        if held is not None and self._held_free:
            self._held_free = False
            if not _closed(held):
                return held
            # Closed while it waited (the server went away): the pool replaces it.
            self._held = None
            await pool.release(held)
        return await pool.acquire()

    async def _give_back(self, pool: Pool, conn: Conn, reusable: bool, broken: bool) -> None:
        if reusable and self._pool is pool and (self._held is None or self._held is conn):
            self._held, self._held_free = conn, True
            return
        if self._held is conn:
            self._held, self._held_free = None, False
        if broken and not _closed(conn):
            # In no state to reuse: close it now, so the pool opens a fresh one next time.
            conn.terminate()
        # Back through the pool exactly once: it waits out a cancelled query and replaces a
        # closed connection (asyncpg shields this from a cancellation of the call).
        await pool.release(conn)

    def _lost(self, exc: BaseException, writing: bool) -> ConnectionLostError:
        what = "a write in this call happened whole or not at all; " if writing else ""
        return ConnectionLostError(
            f"the connection to PostgreSQL at {self.host} was lost ({type(exc).__name__}: "
            f"{scrub(str(exc), self._url)}); {what}try again: the next call opens a new connection",
            path=self.location,
        )

    def _timed_out(self, writing: bool) -> DatabaseError:
        what = "nothing was written" if writing else "nothing was read"
        return DatabaseError(
            f"{self.location} did not answer within the busy timeout ({self.timeout:g} s); "
            f"{what}. Try again, or raise HistoryConfig.busy_timeout.",
            path=self.location,
        )

    def _refused(self, exc: BaseException, writing: bool) -> DatabaseError:
        what = "; nothing of this call was stored" if writing else ""
        return DatabaseError(
            f"{self.location} refused the statement ({type(exc).__name__}: "
            f"{scrub(str(exc), self._url)}){what}",
            path=self.location,
        )


def _closed(conn: Conn) -> bool:
    """Whether a pooled connection can no longer be used: closed, or already released (asyncpg's
    pool releases a connection itself when the server closes it; the proxy then refuses every
    method, ``is_closed`` included)."""
    import asyncpg

    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:
        return True


def _is_lost(exc: BaseException) -> bool:
    """Whether the server ended the connection (shutdown, ``pg_terminate_backend``, crash)."""
    import asyncpg

    return isinstance(
        exc,
        asyncpg.exceptions.OperatorInterventionError
        | asyncpg.exceptions.ConnectionDoesNotExistError
        | asyncpg.exceptions.PostgresConnectionError,
    )


def _host(dsn: str) -> str:
    try:
        return urlsplit(dsn).hostname or "localhost"
    except ValueError:
        return "<a malformed URL>"


async def _keep_session_state(conn: object) -> None:
    """The pool's reset between uses, which by default costs a round trip (RESET ALL, UNLISTEN,
    unlock advisory locks...). Our calls leave nothing to reset: no SET, no LISTEN, and only
    transaction-scoped advisory locks, which end with their transaction."""


async def drop_schema(url: str) -> None:
    """Drop the schema a URL names, with all it holds."""
    driver()
    import asyncpg

    dsn, schema = split_schema(url)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {ident(schema)} CASCADE")
    finally:
        await conn.close()
