"""The SQLite connection: opening the file safely, and handing work to its worker thread.

aiosqlite owns a worker thread that executes, one at a time, the functions queued to it. Each
operation of this backend is a plain ``sqlite3`` function -- a whole transaction, ``BEGIN
IMMEDIATE`` to ``COMMIT`` -- handed to that thread in one piece (:meth:`SQLiteConnection.run`).
That gives us, without any lock:

* atomicity between tasks sharing the connection: no other task's statement can land inside our
  transaction, because the thread runs nothing else until the function returns;
* one hand-off per operation instead of one per statement (each costs tens of microseconds);
* no event-loop-bound state, so the same store serves calls from several event loops.

Between processes, ``BEGIN IMMEDIATE`` takes the write lock up front and the busy timeout makes
a second writer wait for it, so concurrent appends queue instead of failing or losing rows.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar
from urllib.parse import quote

import aiosqlite

from ..._errors import DatabaseError, InvalidQueryError, NotADatabaseError, SessionHistoryError
from ..shared import read_only_refusal, store_closed

__all__ = ["SQLITE_HEADER", "SQLiteConnection", "atomic", "snapshot", "sqlite_error"]

P = ParamSpec("P")
T = TypeVar("T")

SQLITE_HEADER = b"SQLite format 3\x00"


@contextlib.contextmanager
def atomic(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction. IMMEDIATE takes the write lock at BEGIN, so a transaction never
    fails half-way because another process wrote first (a DEFERRED one could, with SQLITE_BUSY
    that no busy timeout retries)."""
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


class SQLiteConnection:
    """One aiosqlite connection to one file, and the one door to its worker thread."""

    def __init__(self, path: Path, *, busy_timeout: float, read_only: bool = False) -> None:
        self.path = path
        self.location = str(path)
        self.busy_timeout_ms = int(busy_timeout * 1000)
        self.read_only = read_only
        self._conn: aiosqlite.Connection | None = None

    async def open(self) -> None:
        """Connect, creating the file when missing (unless read-only); the caller migrates it
        next.

        Read-only, the file is opened with ``mode=rw`` (which never creates one) and
        ``query_only``, rather than ``mode=ro``: a ``mode=ro`` connection to a WAL database
        leaves its ``-wal`` and ``-shm`` files behind, while this one removes them on closing
        like any other, so reading changes nothing on disk.
        """
        prepare_file(self.path, read_only=self.read_only)
        if self.read_only:
            uri = "file:" + quote(os.fsencode(self.path.absolute())) + "?mode=rw"
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
            await conn
        except sqlite3.Error as exc:
            raise DatabaseError(
                f"cannot open {self.path}: {exc}; check the path and its permissions",
                path=self.path,
            ) from exc
        self._conn = conn
        if self.read_only:
            await self.read(lambda db: db.execute("PRAGMA query_only = 1").close())

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def read(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(connection, *args, **kwargs)``, which only reads, on the worker thread."""
        return await self._run(False, fn, *args, **kwargs)

    async def write(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(connection, *args, **kwargs)``, one write transaction, on the worker
        thread. Refused before the hand-off when the store is read-only."""
        if self.read_only and self._conn is not None:
            raise read_only_refusal(self.location)
        return await self._run(True, fn, *args, **kwargs)

    async def _run(
        self,
        writing: bool,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """One hand-off to the worker thread.

        ``Connection._execute`` is how every public aiosqlite method reaches the worker thread;
        it is not public API, so the dependency is pinned below aiosqlite's next minor version
        and ``tests/test_sqlite_files.py`` checks that it is still there.
        """
        conn = self._conn
        if conn is None:
            raise store_closed(self.location)
        try:
            result: T = await conn._execute(fn, conn._conn, *args, **kwargs)  # type: ignore[no-untyped-call]
        except SessionHistoryError:
            raise
        except sqlite3.Error as exc:
            raise sqlite_error(exc, self.path, writing, self.busy_timeout_ms) from exc
        except UnicodeEncodeError as exc:
            # Text with lone surrogates (bytes decoded with surrogateescape) has no UTF-8 form.
            raise InvalidQueryError(
                f"a value given for {self.path} is not valid Unicode text ({exc.reason} at "
                f"position {exc.start}); nothing was {'written' if writing else 'read'}. Pass "
                "text decoded from UTF-8."
            ) from exc
        return result


_READ_ONLY_NAMES = ("SQLITE_READONLY", "SQLITE_READONLY_ROLLBACK", "SQLITE_READONLY_DBMOVED")


def sqlite_error(
    exc: sqlite3.Error, path: Path, writing: bool, busy_timeout_ms: int
) -> DatabaseError:
    """What a driver error means for the person who called: said as it is, and what to do."""
    name = getattr(exc, "sqlite_errorname", "")
    nothing = " Nothing was written." if writing else " The file was not changed."
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc):
        return DatabaseError(
            f"{path} stayed locked by another writer for longer than the busy timeout "
            f"({busy_timeout_ms} ms).{nothing} Try again, or raise HistoryConfig.busy_timeout.",
            path=path,
        )
    if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or name.startswith("SQLITE_CORRUPT_"):
        return NotADatabaseError(
            f"{path} is not a readable SQLite database ({exc}); it may be damaged, or another "
            f"kind of file.{nothing}",
            path=path,
        )
    if name.startswith(("SQLITE_READONLY_", "SQLITE_CANTOPEN")) and name not in _READ_ONLY_NAMES:
        # SQLite keeps a WAL database's journal in two files beside it, made on first use,
        # even to read: a directory it cannot write is the usual cause, never a damaged file.
        directory = path.parent
        why = (
            f"the directory {directory} is not writable by this user"
            if not os.access(directory, os.W_OK)
            else f"they could not be made or opened in {directory}"
        )
        return DatabaseError(
            f"cannot use {path}: SQLite keeps its journal in {path.name}-wal and "
            f"{path.name}-shm beside the database, even to read it, and {why} ({exc}).{nothing} "
            "Make the directory writable, or copy the database to a place that is.",
            path=path,
        )
    if name in _READ_ONLY_NAMES:
        return DatabaseError(
            f"{path} cannot be written by this user ({exc}).{nothing} Make the file writable, "
            "or open it with HistoryConfig(read_only=True) to read it.",
            path=path,
        )
    return DatabaseError(f"{path}: {exc}.{nothing}", path=path)


def prepare_file(path: Path, *, read_only: bool = False) -> None:
    """Check the path before SQLite sees it, and create a new file private to its owner (never
    when read-only: then the file must be there, and be a database already)."""
    if path.is_dir():
        raise DatabaseError(
            f"{path} is a directory; give the path of a database file inside it, such as "
            f"{path / 'history.db'}",
            path=path,
        )
    if path.exists():
        with contextlib.suppress(OSError), path.open("rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
            if header and header != SQLITE_HEADER:
                raise NotADatabaseError(
                    f"{path} is not an SQLite database; give the path of a session-history "
                    "database or of a file that does not exist yet. The file was not changed.",
                    path=path,
                )
            if not header and read_only:
                raise NotADatabaseError(
                    f"{path} is empty (0 bytes): no session-history database yet, and a "
                    "read-only history does not make one. The file was not changed.",
                    path=path,
                )
        return
    if read_only:
        raise DatabaseError(
            f"no database at {path}, and a read-only history does not create one; check the "
            "path, or record sessions there first",
            path=path,
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(
            f"cannot create {path}: {path.parent} is not a directory that can be made "
            f"({exc.strerror}); choose another location (HistoryConfig.db_path, --db or "
            "$SESSION_HISTORY_DB)",
            path=path,
        ) from exc
    try:
        # Conversations are private: the file (and the -wal/-shm files SQLite derives from
        # its mode) is readable and writable by its owner only.
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
    except FileExistsError:
        pass  # another process created it first: fine, it is checked on open
    except OSError as exc:
        raise DatabaseError(
            f"cannot create {path}: {exc.strerror}; choose a writable location "
            "(HistoryConfig.db_path, --db or $SESSION_HISTORY_DB)",
            path=path,
        ) from exc
