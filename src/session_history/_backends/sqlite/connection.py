"""The SQLite connection: one aiosqlite connection, and the one door to its worker thread.

aiosqlite owns a worker thread that executes, one at a time, the functions queued to it. Each
operation of this backend is a plain ``sqlite3`` function -- a whole transaction -- handed to that
thread in one piece, as a *job* whose result arrives on a ``concurrent.futures.Future``: an async
caller awaits it on its own loop, a blocking caller (in blocking mode, see ``_background``) waits
for it in its own thread. That gives us, without any lock held across an await:

* atomicity between callers sharing the connection: no other caller's statement can land inside
  a transaction, because the thread runs nothing else until the job returns;
* one hand-off per operation instead of one per statement (each costs tens of microseconds);
* no event-loop-bound state, so the same store serves calls from any loop and any thread.

**Group commit.** Writes are not queued one by one: a write joins a list of pending writes, and
one *drain* job on the worker thread takes all that are pending when it starts. When several are
waiting (concurrent writers), the drain runs them in one transaction, each inside a savepoint of
its own -- a write that fails is rolled back alone -- and commits once; every caller hears of its
write only after that commit. A lone write runs as its own transaction. Under load this saves one
commit per write; idle, it costs nothing.

Between processes, ``BEGIN IMMEDIATE`` takes the write lock up front and the busy timeout makes
a second writer wait for it, so concurrent appends queue instead of failing or losing rows.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Concatenate, Generic, ParamSpec, Protocol, TypeVar
from urllib.parse import quote

import aiosqlite

from ..._background import elsewhere, wait
from ..._errors import DatabaseError, InvalidQueryError, SessionHistoryError
from ..shared import read_only_refusal, store_closed
from .files import can_write, prepare_file, sqlite_error

__all__ = ["UPKEEP_EVERY", "SQLiteConnection", "atomic", "snapshot"]

P = ParamSpec("P")
T = TypeVar("T")

UPKEEP_EVERY = 16
"""Drains between two calls of ``after_writes``: its check costs a query, worth making now and
then rather than after every write. A long drain (an import's batch) is followed by one at once,
so the upkeep's work overlaps with the caller preparing the next batch."""
LONG_DRAIN = 0.005
"""Seconds after which a drain counts as long."""


@contextlib.contextmanager
def atomic(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, or, inside a drain's transaction, one savepoint of it.

    IMMEDIATE takes the write lock at BEGIN, so a transaction never fails half-way because
    another process wrote first (a DEFERRED one could, with SQLITE_BUSY that no busy timeout
    retries). A savepoint rolls back alone, leaving the other writes of the group as they were.
    """
    if conn.in_transaction:
        conn.execute("SAVEPOINT job")
        try:
            yield
            conn.execute("RELEASE job")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
            raise
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextlib.contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """A read transaction, so that several SELECTs see one state of the database."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


@dataclass(slots=True)
class _Job(Generic[T]):
    """One operation for the worker thread, and where its result goes."""

    run: Callable[[sqlite3.Connection], T]
    writing: bool
    future: concurrent.futures.Future[T]


class _Backend(Protocol):
    """What a backend method made by :meth:`SQLiteConnection.reading` stands on."""

    @property
    def _db(self) -> SQLiteConnection: ...


class SQLiteConnection:
    """One aiosqlite connection to one file, and the one door to its worker thread.

    Args:
        after_writes: Called on the worker thread after every :data:`UPKEEP_EVERY`-th drain
            (the search index's upkeep, see ``index.py``), with the connection; its errors are
            its own.
    """

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout: float,
        read_only: bool = False,
        after_writes: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        self.path = path
        self.location = str(path)
        self.busy_timeout_ms = int(busy_timeout * 1000)
        self.read_only = read_only
        self._after_writes = after_writes
        self._conn: aiosqlite.Connection | None = None
        # The driver's connection, for the worker thread: unlike ``_conn`` it is not cleared by
        # close(), whose own job is queued behind those accepted before it, so they still run.
        self._sqlite: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._pending: list[_Job[object]] = []
        self._draining = False
        self._drains = 0

    async def open(self) -> None:
        """Connect, creating the file when missing (unless read-only); the caller migrates it
        next.

        Read-only, the file is opened with ``mode=rw`` (which never creates one) and
        ``query_only``, rather than ``mode=ro``: a ``mode=ro`` connection to a WAL database
        leaves its ``-wal`` and ``-shm`` files behind, while this one removes them on closing
        like any other, so reading changes nothing on disk. A file this process may not write
        (mode 0444, say) could only be opened read-only, and would leave them behind all the
        same: with no ``-wal`` file beside it, all of it is in the file, which nobody can be
        writing, so it is opened ``immutable`` (no journal, no lock files at all).
        """
        prepare_file(self.path, read_only=self.read_only)
        self._conn = await elsewhere(self._connect())
        self._sqlite = self._conn._conn
        if self.read_only:
            await self.read(lambda db: db.execute("PRAGMA query_only = 1").close())

    async def _connect(self) -> aiosqlite.Connection:
        if self.read_only:
            uri = "file:" + quote(os.fsencode(self.path.absolute())) + "?" + self._read_mode()
            conn = aiosqlite.connect(uri, uri=True, isolation_level=None)
        else:
            conn = aiosqlite.connect(self.path, isolation_level=None)
        # aiosqlite's worker thread is not a daemon, so a store its user forgot to close would
        # hang the interpreter at exit (after the last statement, before any finaliser could
        # warn). Nothing is lost by not waiting for it: every call a caller awaited has finished,
        # and SQLite's journal keeps the file whole whatever the thread was doing.
        worker = getattr(conn, "_thread", None)
        if worker is not None:
            worker.daemon = True
        try:
            return await conn
        except sqlite3.Error as exc:
            raise DatabaseError(
                f"cannot open {self.path}: {exc}; check the path and its permissions",
                path=self.path,
            ) from exc

    def _read_mode(self) -> str:
        """The URI parameters of a read-only connection (see :meth:`open`)."""
        if can_write(self.path):
            return "mode=rw"
        try:
            journal = Path(f"{self.path}-wal").stat().st_size
        except OSError:
            journal = 0
        # A -wal file with content holds commits not yet in the file: read them too.
        return "mode=ro" if journal else "mode=ro&immutable=1"

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await elsewhere(conn.close())

    # -- the door ---------------------------------------------------------------------------

    async def read(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(connection, *args, **kwargs)``, which only reads, on the worker thread."""
        return await wait(self._submit(False, lambda db: fn(db, *args, **kwargs)))

    async def write(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(connection, *args, **kwargs)``, one write (its own transaction, or a
        savepoint of a group's: see ``atomic``), on the worker thread. Refused before the
        hand-off when the store is read-only."""
        if self.read_only and self._conn is not None:
            raise read_only_refusal(self.location)
        return await wait(self._submit(True, lambda db: fn(db, *args, **kwargs)))

    async def maintain(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(connection, *args, **kwargs)`` on the worker thread as it is, outside any
        transaction of ours: for migrations and settings (``PRAGMA journal_mode``), which manage
        their own."""
        return await wait(self._submit(False, lambda db: fn(db, *args, **kwargs)))

    @staticmethod
    def reading(
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
    ) -> Callable[Concatenate[_Backend, P], Coroutine[object, object, T]]:
        """A backend method that hands its arguments to ``fn`` through :meth:`read`."""

        async def method(backend: _Backend, /, *args: P.args, **kwargs: P.kwargs) -> T:
            return await backend._db.read(fn, *args, **kwargs)

        return method

    @staticmethod
    def writing(
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
    ) -> Callable[Concatenate[_Backend, P], Coroutine[object, object, T]]:
        """A backend method that hands its arguments to ``fn`` through :meth:`write`."""

        async def method(backend: _Backend, /, *args: P.args, **kwargs: P.kwargs) -> T:
            return await backend._db.write(fn, *args, **kwargs)

        return method

    def _submit(
        self, writing: bool, run: Callable[[sqlite3.Connection], T]
    ) -> concurrent.futures.Future[T]:
        conn = self._conn
        if conn is None:
            raise store_closed(self.location)
        job = _Job(run, writing, concurrent.futures.Future())
        if not writing:
            _post(conn, lambda: self._run_alone(job))
            return job.future
        with self._lock:
            # A list of jobs of any result type: _Job is invariant in T, so mypy needs telling.
            self._pending.append(job)  # type: ignore[arg-type]
            if self._draining:
                return job.future  # the drain already queued takes it
            self._draining = True
        _post(conn, self._drain)
        return job.future

    # -- on the worker thread ---------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        assert self._sqlite is not None
        return self._sqlite

    def _run_alone(self, job: _Job[T], *, started: bool = False) -> None:
        if not started and not job.future.set_running_or_notify_cancel():
            return  # cancelled before it started: nothing was done
        try:
            job.future.set_result(job.run(self._db()))
        except BaseException as exc:  # noqa: BLE001 - delivered to the caller, as it is
            job.future.set_exception(self._error(exc, job.writing))

    def _drain(self) -> None:
        """Run every pending write: one alone, several in one transaction."""
        started = time.perf_counter()
        with self._lock:
            jobs, self._pending = self._pending, []
            self._draining = False
        # A write cancelled before it started is not done at all.
        jobs = [job for job in jobs if job.future.set_running_or_notify_cancel()]
        if len(jobs) == 1:
            self._run_alone(jobs[0], started=True)
        elif jobs:
            self._run_group(jobs)
        self._drains += 1
        long = time.perf_counter() - started > LONG_DRAIN
        if self._after_writes is not None and (long or self._drains % UPKEEP_EVERY == 0):
            # Upkeep (the search index) in a transaction of its own: if it fails, the writes
            # stay committed and the next upkeep does the work.
            with contextlib.suppress(sqlite3.Error, SessionHistoryError):
                self._after_writes(self._db())

    def _run_group(self, jobs: list[_Job[object]]) -> None:
        db = self._db()
        outcomes: list[tuple[bool, object]] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            for job in jobs:
                try:
                    outcomes.append((True, job.run(db)))  # its atomic() is a savepoint
                except Exception as exc:
                    if not db.in_transaction:
                        raise  # SQLite rolled the whole group back: every write failed
                    outcomes.append((False, self._error(exc, True)))
            db.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - every caller of the group hears of it
            if db.in_transaction:
                db.execute("ROLLBACK")
            error = self._error(exc, True)
            for job in jobs:
                job.future.set_exception(error)
            return
        for job, (ok, value) in zip(jobs, outcomes, strict=True):
            if ok:
                job.future.set_result(value)
            else:
                assert isinstance(value, BaseException)
                job.future.set_exception(value)

    def _error(self, exc: BaseException, writing: bool) -> BaseException:
        """What the caller is told: our own errors as they are, the driver's said plainly."""
        if isinstance(exc, SessionHistoryError) or not isinstance(exc, Exception):
            return exc
        if isinstance(exc, sqlite3.Error):
            error: BaseException = sqlite_error(exc, self.path, writing, self.busy_timeout_ms)
        elif isinstance(exc, UnicodeEncodeError):
            # Text with lone surrogates (bytes decoded with surrogateescape) has no UTF-8 form.
            error = InvalidQueryError(
                f"a value given for {self.path} is not valid Unicode text ({exc.reason} at "
                f"position {exc.start}); nothing was {'written' if writing else 'read'}. Pass "
                "text decoded from UTF-8."
            )
        else:
            return exc
        error.__cause__ = exc
        return error


def _post(conn: aiosqlite.Connection, fn: Callable[[], object]) -> None:
    """Queue ``fn`` on aiosqlite's worker thread, with no event loop involved.

    ``Connection._tx`` is the queue every aiosqlite method reaches the worker through; it is not
    public API, so the dependency is pinned below aiosqlite's next minor version and
    ``tests/test_sqlite_files.py`` checks that it is still there. A ``None`` future tells the
    worker that the result is delivered by ``fn`` itself.
    """
    conn._tx.put_nowait((None, fn))
