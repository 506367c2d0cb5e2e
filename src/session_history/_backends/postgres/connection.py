"""The PostgreSQL connections of a store, and how each operation gets one.

Each event loop that uses the store gets a pool of its own (:mod:`.pools`), so an operation runs
on the loop that awaited it; the blocking doors' calls run on session-history's background loop,
and so use its pool.

Every connection of a store starts with ``search_path`` set to the store's schema, so the SQL of
the other modules names its tables plainly and is the same text for every store.

A connection that breaks (the server restarted, ``pg_terminate_backend``, the network) is
discarded exactly once, and the pool replaces it. The call that was using it runs again on
another connection when that is safe: when nothing of it reached the server (a connection that
died while idle fails on its first statement, before sending it), or when it only reads.
Otherwise (a write whose statement was sent) it fails with one
:class:`~session_history.ConnectionLostError` that says so; the next call works on a fresh
connection.

The pool's size and how long a call waits for a free connection come from the config
(``pool_size``, ``pool_timeout``) or the URL (``?pool_size=4&pool_timeout=30``, taken out of the
URL before the driver sees it, as ``schema`` is); see :mod:`.pools` for how calls share it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..._background import elsewhere
from ..._errors import ConnectionLostError, DatabaseError, InvalidQueryError, SessionHistoryError
from ..._urls import redact_url, scrub, split_schema, url_problem
from ..shared import read_only_refusal, store_closed
from .pools import LoopPool, closed, queries_sent, unread

if TYPE_CHECKING:
    from .pools import Conn

__all__ = ["Conn", "PostgresConnection", "driver", "drop_schema", "ident"]

P = ParamSpec("P")
T = TypeVar("T")

POOL_SIZE = 10
"""Connections per event loop when neither the config nor the URL says ``pool_size``."""
MAX_POOL_SIZE = 1000
"""The largest ``pool_size`` (asyncpg makes a slot object per connection up front)."""
POOL_TIMEOUT = 30.0
"""Seconds a call waits for a free connection when neither says ``pool_timeout``."""
NAME_BYTES = 63
"""The longest PostgreSQL name, in bytes (NAMEDATALEN - 1): the server cuts longer ones short."""

INSTALL = (
    'install it from a checkout of session-history with: pip install -e ".[postgres]" '
    "(or pip install asyncpg)"
)


def driver() -> object:
    """The asyncpg module, or a clear error naming the extra that installs it."""
    try:
        import asyncpg
    except ModuleNotFoundError:
        raise DatabaseError(
            f"a postgresql:// database needs the asyncpg driver, which is not installed; {INSTALL}"
        ) from None
    return asyncpg


def ident(name: str) -> str:
    """``name`` quoted as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


class PostgresConnection:
    """The pools of one store (one per event loop, see :mod:`.pools`) and the door to them."""

    def __init__(
        self,
        url: str,
        *,
        busy_timeout: float,
        read_only: bool = False,
        pool_size: int | None = None,
        pool_timeout: float | None = None,
    ) -> None:
        self.location = redact_url(url)
        self._url = url  # only to take its secrets out of the driver's messages
        problem = url_problem(url)
        if problem is not None:
            raise self._unusable(problem)
        dsn, self.schema = split_schema(url)
        problem = _schema_problem(self.schema)
        if problem is not None:
            raise DatabaseError(f"{self.location}: {problem}.", path=self.location)
        self.dsn, given_size, given_timeout = _take_pool_settings(dsn)
        # The config's own values win over the URL's, as asyncpg's arguments win over its DSN.
        self.pool_size = pool_size or int(self._setting("pool_size", given_size, POOL_SIZE))
        self.pool_timeout = pool_timeout or self._setting(
            "pool_timeout", given_timeout, POOL_TIMEOUT
        )
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

    def _setting(self, name: str, given: str | None, default: float) -> float:
        """A pool setting from the URL (a positive number; ``pool_size`` a whole one)."""
        if given is None:
            return default
        try:
            value = int(given) if name == "pool_size" else float(given)
        except ValueError:
            value = 0
        if not 0 < value <= (MAX_POOL_SIZE if name == "pool_size" else sys.float_info.max):
            kind = (
                f"a whole number from 1 to {MAX_POOL_SIZE}"
                if name == "pool_size"
                else "a number of seconds above 0"
            )
            raise self._unusable(f"{name} must be {kind}, not {given!r}")
        return value

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, upgrade: Callable[[Conn], Awaitable[None]] | None
    ) -> LoopPool:
        import asyncpg

        try:
            # min_size=0: connections are opened when calls need them, by the calls (which
            # wait for a free one when the server refuses more); asyncpg's own upkeep of a
            # minimum would reconnect in a task of its own after every loss, racing the calls
            # for the server's slots and left pending when a loop ends.
            pool = await asyncpg.create_pool(
                self.dsn,
                min_size=0,
                max_size=int(self.pool_size),
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
        loop_pool = LoopPool(pool, loop, size=int(self.pool_size), timeout=self.pool_timeout)
        try:
            if upgrade is not None:
                conn = await self._take(loop_pool)
                reusable = False
                try:
                    await upgrade(conn)
                    reusable = True
                except (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError) as exc:
                    raise self._lost(exc, True) from exc
                except asyncpg.PostgresError as exc:  # what migrate does not wrap: its reads
                    raise (self._lost if _is_lost(exc) else self._refused)(exc, True) from exc
                finally:
                    await loop_pool.give_back(conn, reusable=reusable, broken=not reusable)
            await loop_pool.watch_loop()
        except BaseException:
            await loop_pool.close()
            raise
        return loop_pool

    async def _take(self, pool: LoopPool) -> Conn:
        """A connection of ``pool``, or the error that says why there is none."""
        import asyncpg

        try:
            return await pool.take()
        except BaseException as exc:
            pool.untake()
            if isinstance(exc, TimeoutError):
                raise self._no_free_connection(pool) from None
            if isinstance(exc, ValueError | TypeError | asyncpg.ClientConfigurationError):
                # What the driver refuses in the URL itself (a parameter's value, say), beyond
                # what url_problem catches: not a lost connection, and no use trying again.
                raise self._unusable(scrub(str(exc), self._url)) from None
            if isinstance(exc, OSError | asyncpg.PostgresError | asyncpg.InterfaceError):
                # Never the exception's own text alone: some drivers echo the DSN, password
                # included.
                raise ConnectionLostError(
                    f"cannot connect to PostgreSQL at {self.host} ({type(exc).__name__}: "
                    f"{scrub(str(exc), self._url)}); check that the server runs and the URL's "
                    "user, password and database are right",
                    path=self.location,
                ) from None
            raise

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
        # A dead connection found before anything was sent is one more try; so is any lost
        # connection of a read. One try per connection the pool can hold, and one more, walks
        # past every connection a server restart left dead in the pool.
        for attempt in range(pool.size + 2):
            if pool.closing:  # close() began before this call: it must not wait for it
                raise store_closed(self.location)
            conn = await self._take(pool)
            if unread(conn):
                # The server ended it while idle, and said so: let the driver read that (one
                # turn of the loop), so the call does not send its statement into a dead
                # connection, where a write could not be tried again.
                await asyncio.sleep(0)
            sent, dead = queries_sent(conn), closed(conn)
            reusable = broken = False
            try:
                if dead:
                    raise asyncpg.InterfaceError("connection is closed")  # nothing sent: retry
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
                    # Text with lone surrogates (bytes decoded with surrogateescape) has no
                    # UTF-8 form: the driver refused it before sending, so the connection is as
                    # it was.
                    reusable = True
                    raise InvalidQueryError(
                        f"a value given for {self.location} is not valid Unicode text "
                        f"({exc.__cause__.reason}); nothing was "
                        f"{'written' if writing else 'read'}. Pass text decoded from UTF-8."
                    ) from exc
                if not _is_lost(exc):
                    reusable = True  # a refused statement leaves the connection as it was
                    raise self._refused(exc, writing) from exc
                broken = True
                lost: BaseException = exc
            except (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError) as exc:
                broken = True
                lost = exc
            finally:
                untouched = dead or (sent is not None and queries_sent(conn) == sent)
                await pool.give_back(conn, reusable=reusable and not closed(conn), broken=broken)
            if not (untouched or not writing) or attempt == pool.size + 1:
                raise self._lost(lost, writing) from lost
        raise AssertionError("unreachable")  # the loop returns or raises

    def _unusable(self, problem: str) -> DatabaseError:
        return DatabaseError(
            f"{self.location} is not a usable PostgreSQL URL: {problem}; write it as "
            "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME]",
            path=self.location,
        )

    def _lost(self, exc: BaseException, writing: bool) -> ConnectionLostError:
        what = (
            "its write was stored whole or not at all (the server may have committed it just "
            "before)"
            if writing
            else "nothing was changed"
        )
        return ConnectionLostError(
            f"the connection to PostgreSQL at {self.host} was lost during this call "
            f"({scrub(_why_lost(exc), self._url)}); {what}. The call can be retried: the next "
            "one opens a new connection.",
            path=self.location,
        )

    def _no_free_connection(self, pool: LoopPool) -> DatabaseError:
        if pool.refusal is not None:
            refusal = scrub(pool.refusal, self._url)
            why = (
                f"the server refuses more connections than the {pool.connections} this store "
                f"has ({refusal}), and they stayed in use"
                if pool.connections
                else f"the server refuses every new connection ({refusal}): others hold its slots"
            )
            fix = "raise pool_timeout, or the server's limit"
        else:
            why = f"all {pool.size} of the pool's connections stayed in use"
            fix = "raise pool_size or pool_timeout (HistoryConfig, or ?pool_size=&pool_timeout=)"
        return DatabaseError(
            f"no connection to PostgreSQL at {self.host} became free within the pool timeout "
            f"({self.pool_timeout:g} s): {why}; nothing was done. Try again, or {fix}.",
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


def _why_lost(exc: BaseException) -> str:
    """What ended a connection, in words: the server's own, when it said why (shutdown,
    ``pg_terminate_backend``); never the driver's internal state."""
    import asyncpg

    for cause in (exc, exc.__cause__):
        if isinstance(cause, asyncpg.PostgresError) and not isinstance(
            cause, asyncpg.exceptions.ConnectionDoesNotExistError
        ):
            return f"the server ended it: {cause.args[0] if cause.args else type(cause).__name__}"
    if isinstance(exc, OSError) and not isinstance(exc, asyncpg.PostgresError):
        return f"a network error: {exc.strerror or exc}"
    return "the server or the network closed it"


def _schema_problem(schema: str) -> str | None:
    """What PostgreSQL would do wrong with ``schema`` as a schema name, or None."""
    if not schema:
        return (
            "the schema parameter is empty; name a schema (?schema=NAME) or leave the parameter "
            "out for the default, 'session_history'"
        )
    if "\x00" in schema:
        return "the schema name contains the NUL character (U+0000), which no PostgreSQL name holds"
    size = len(schema.encode("utf-8", "surrogatepass"))
    if size > NAME_BYTES:
        return (
            f"the schema name is {size} bytes long and PostgreSQL keeps only the first "
            f"{NAME_BYTES} bytes of a name (it would quietly use another schema); choose a name "
            f"of at most {NAME_BYTES} bytes"
        )
    return None


def _take_pool_settings(dsn: str) -> tuple[str, str | None, str | None]:
    """``(dsn, pool_size, pool_timeout)``: our own pool parameters taken out of the URL, since
    the driver would send them to the server as settings."""
    parts = urlsplit(dsn)
    query = parse_qsl(parts.query, keep_blank_values=True)
    found = {key: value for key, value in query if key in ("pool_size", "pool_timeout")}
    rest = [(key, value) for key, value in query if key not in found]
    rest_dsn = urlunsplit(parts._replace(query=urlencode(rest)))
    return rest_dsn, found.get("pool_size"), found.get("pool_timeout")


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
