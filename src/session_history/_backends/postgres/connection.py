"""The PostgreSQL connections of a store, and how each operation gets one.

Each event loop that uses the store gets a pool of its own (:mod:`.pools`), so an operation runs
on the loop that awaited it; the blocking doors' calls run on session-history's background loop,
and so use its pool.

Every connection of a store starts with ``search_path`` set to the store's schema, so the SQL of
the other modules names its tables plainly and is the same text for every store.

A connection that breaks (the server restarted, ``pg_terminate_backend``, the network) fails the
call that was using it with :class:`~session_history.ConnectionLostError` and is discarded exactly
once; the pool replaces it, so the next call works on a fresh connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlsplit

from ..._background import elsewhere
from ..._errors import ConnectionLostError, DatabaseError, InvalidQueryError, SessionHistoryError
from ..._urls import redact_url, scrub, split_schema, url_problem
from ..shared import read_only_refusal, store_closed
from .pools import LoopPool, closed

if TYPE_CHECKING:
    from .pools import Conn

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
    """The pools of one store (one per event loop, see :mod:`.pools`) and the door to them."""

    def __init__(self, url: str, *, busy_timeout: float, read_only: bool = False) -> None:
        self.location = redact_url(url)
        problem = url_problem(url)
        if problem is not None:
            raise self._unusable(problem)
        self.dsn, self.schema = split_schema(url)
        self._url = url  # only to take its secrets out of the driver's messages
        self.read_only = read_only
        self.host = _host(self.dsn)
        self.timeout = busy_timeout
        given = dict(parse_qsl(urlsplit(self.dsn).query)).get("application_name")
        self.application_name = given or "session-history"
        self._open = False
        self._pools: dict[asyncio.AbstractEventLoop, LoopPool] = {}
        self._making: dict[asyncio.AbstractEventLoop, asyncio.Future[LoopPool]] = {}

    async def open(self, upgrade: Callable[[Conn], Awaitable[None]]) -> None:
        """Make this loop's pool and run ``upgrade`` (the migrations) on one of its
        connections; other loops get their pools on their first call."""
        if self._open:
            return
        driver()
        await elsewhere(self._loop_pool(upgrade))
        self._open = True

    async def close(self) -> None:
        await elsewhere(self._close())

    async def _close(self) -> None:
        """Close every pool: this loop's now; a pool of another running loop on that loop, as
        soon as it runs (waiting for it could deadlock a thread that waits for us); a pool of a
        loop that is not running when its loop shuts down (:meth:`LoopPool.watch_loop`)."""
        self._open = False
        pools, self._pools = self._pools, {}
        here = asyncio.get_running_loop()
        for loop, pool in pools.items():
            if loop is here:
                await pool.close()
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(pool.close(), loop)

    async def _loop_pool(
        self, upgrade: Callable[[Conn], Awaitable[None]] | None = None
    ) -> LoopPool:
        """This loop's pool, made on first use (callers on one loop racing share one making)."""
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is not None:
            return pool
        if not self._open and upgrade is None:
            raise store_closed(self.location)
        making = self._making.get(loop)
        if making is not None:
            return await asyncio.shield(making)
        making = self._making[loop] = loop.create_future()
        try:
            pool = await self._connect(loop, upgrade)
        except BaseException as exc:
            making.set_exception(exc)
            making.exception()  # retrieved: a lone maker leaves no "never retrieved" noise
            raise
        finally:
            del self._making[loop]
        for other in [other for other in self._pools if other.is_closed()]:
            del self._pools[other]  # loops that ended: their pools closed with them
        self._pools[loop] = pool
        making.set_result(pool)
        return pool

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, upgrade: Callable[[Conn], Awaitable[None]] | None
    ) -> LoopPool:
        import asyncpg

        try:
            pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=10,
                command_timeout=self.timeout,
                server_settings={
                    "timezone": "UTC",
                    # The URL's own application_name, if it has one, names the connections.
                    "application_name": self.application_name,
                    "search_path": ident(self.schema),
                },
                reset=_keep_session_state,
            )
        except (ValueError, TypeError, asyncpg.ClientConfigurationError) as exc:
            # What the driver refuses in the URL itself (a parameter's value, say), beyond what
            # url_problem catches: not a lost connection, and no use trying again.
            raise self._unusable(scrub(str(exc), self._url)) from None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # Never the exception's own text alone: some drivers echo the DSN, password included.
            raise ConnectionLostError(
                f"cannot connect to PostgreSQL at {self.host} ({type(exc).__name__}: "
                f"{scrub(str(exc), self._url)}); check that the server runs and the URL's user, "
                "password and database are right",
                path=self.location,
            ) from None
        try:
            if upgrade is not None:
                async with pool.acquire() as conn:
                    await upgrade(conn)
            loop_pool = LoopPool(pool, loop)
            await loop_pool.watch_loop()
        except BaseException:
            await pool.close()
            raise
        return loop_pool

    async def read(
        self,
        fn: Callable[Concatenate[Conn, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(connection, *args, **kwargs)``, which only reads, on this loop's pool (in
        blocking mode, the background loop's)."""
        return await elsewhere(self._call(False, fn, *args, **kwargs))

    async def write(
        self,
        fn: Callable[Concatenate[Conn, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(connection, *args, **kwargs)``, one statement or one transaction that
        writes, on this loop's pool. Refused before anything is sent when the store is
        read-only."""
        if self.read_only and self._open:
            raise read_only_refusal(self.location)
        return await elsewhere(self._call(True, fn, *args, **kwargs))

    async def _call(
        self,
        writing: bool,
        fn: Callable[Concatenate[Conn, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        import asyncpg

        pool = await self._loop_pool()
        if pool.closing:  # close() began before this call: it must not wait for it
            raise store_closed(self.location)
        try:
            conn = await pool.take()
        except BaseException as exc:
            pool.untake()
            if isinstance(exc, OSError | asyncpg.PostgresError | asyncpg.InterfaceError):
                raise self._lost(exc, writing) from exc
            raise
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
            await pool.give_back(conn, reusable=reusable and not closed(conn), broken=broken)

    def _unusable(self, problem: str) -> DatabaseError:
        return DatabaseError(
            f"{self.location} is not a usable PostgreSQL URL: {problem}; write it as "
            "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME]",
            path=self.location,
        )

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
