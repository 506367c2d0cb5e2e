"""The SQLite file before and around the connection: checking a path before SQLite sees it,
creating a new one, and saying what a driver error means for the person who called.

A new database appears whole: it is written beside its place under a temporary name, with an
SQLite header already, and linked into place (never over a file that is there). So an existing
file that is empty, or not a file at all (``/dev/null``), is never one of ours being made, and is
refused the same way whatever opens it, rather than made into a database.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import sqlite3
import stat
import uuid
from pathlib import Path

from ..._errors import DatabaseError, NotADatabaseError

__all__ = ["SQLITE_HEADER", "can_write", "prepare_file", "sqlite_error"]

SQLITE_HEADER = b"SQLite format 3\x00"

_READ_ONLY_NAMES = ("SQLITE_READONLY", "SQLITE_READONLY_ROLLBACK", "SQLITE_READONLY_DBMOVED")
_WHERE = "(HistoryConfig.db_path, --db or $SESSION_HISTORY_DB)"
_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
)


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


def can_write(path: Path) -> bool:
    """Whether this process may write ``path`` (its mode, and who it runs as, say so)."""
    return os.access(path, os.W_OK)


def _advice(exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return f"a name in the path is too long: choose a shorter one {_WHERE}"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            "you may not enter a folder on the way: choose a path you own, or ask for access "
            + _WHERE
        )
    return f"choose another location {_WHERE}"


def prepare_file(path: Path, *, read_only: bool = False) -> None:
    """Check the path before SQLite sees it, and create a new database private to its owner
    (never when read-only: then the file must be there, and be a database already)."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        info = None
    except OSError as exc:
        raise DatabaseError(
            f"cannot use {path}: {exc.strerror}; {_advice(exc)}", path=path
        ) from exc
    if info is not None:
        _check_existing(path, info, read_only)
        return
    if read_only:
        raise DatabaseError(
            f"no database at {path}, and a read-only history does not create one; check the "
            "path, or record sessions there first",
            path=path,
        )
    _make_directories(path)
    _create(path)


def _check_existing(path: Path, info: os.stat_result, read_only: bool) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise DatabaseError(
            f"{path} is a directory; give the path of a database file inside it, such as "
            f"{path / 'history.db'}",
            path=path,
        )
    kind = next((name for test, name in _KINDS if test(info.st_mode)), None)
    if kind is not None:
        raise NotADatabaseError(
            f"{path} is {kind}, not a file, so no session-history database; give the path of "
            f"a database, or of a file that does not exist yet {_WHERE}. Nothing was changed.",
            path=path,
        )
    if info.st_size == 0:
        # Every new database of ours has its header from the start: an empty file is another
        # program's (or a typo's), and made into a database it would hide that.
        what = "a read-only history does not make one" if read_only else "none is made of it"
        raise NotADatabaseError(
            f"{path} is empty (0 bytes), not a session-history database, and {what}; give the "
            f"path of a database, or of a file that does not exist yet {_WHERE}. The file was "
            "not changed.",
            path=path,
        )
    with contextlib.suppress(OSError), path.open("rb") as fh:
        header = fh.read(len(SQLITE_HEADER))
        if header != SQLITE_HEADER:
            raise NotADatabaseError(
                f"{path} is not an SQLite database; give the path of a session-history "
                "database or of a file that does not exist yet. The file was not changed.",
                path=path,
            )


def _make_directories(path: Path) -> None:
    """The missing parents of ``path``, each private to its owner (``Path.mkdir(parents=True)``
    would make all but the last with the umask's mode, 0777 under umask 000)."""
    missing: list[Path] = []
    directory = path.parent
    try:
        while not directory.is_dir() and directory != directory.parent:
            missing.append(directory)
            directory = directory.parent
        for directory in reversed(missing):
            with contextlib.suppress(FileExistsError):  # another process made it first
                directory.mkdir(mode=0o700)
    except OSError as exc:
        raise DatabaseError(
            f"cannot create {path}: {path.parent} is not a directory that can be made "
            f"({exc.strerror}); {_advice(exc)}",
            path=path,
        ) from exc


@functools.cache
def _empty_database() -> bytes:
    """The bytes of an empty SQLite database in WAL mode: one page, the header."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("PRAGMA user_version = 0")  # a write: page 1 exists from here
        data = bytearray(conn.serialize())
    finally:
        conn.close()
    # The header's file format versions (bytes 18 and 19) say WAL, as PRAGMA journal_mode = WAL
    # would leave them: the file is in WAL mode from its first open, so no store has to switch
    # it, which takes the file to itself and, with several stores opening a new path at once,
    # could wait for the others past the busy timeout.
    data[18] = data[19] = 2
    return bytes(data)


def _create(path: Path) -> None:
    """A new database at ``path``, private to its owner (the file, and the -wal/-shm files
    SQLite derives from its mode), appearing whole: written under a temporary name beside it
    and linked into place, never over a file another process made first."""
    temporary = path.with_name(f".{uuid.uuid4().hex[:16]}.session-history.tmp")
    try:
        fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            os.write(fd, _empty_database())
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process created it first: fine, it is checked on open
        except OSError:
            # A file system without hard links: create in place; the header follows at once.
            _create_in_place(path)
    except OSError as exc:
        raise DatabaseError(
            f"cannot create {path}: {exc.strerror}; choose a writable location {_WHERE}",
            path=path,
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


def _create_in_place(path: Path) -> None:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    try:
        os.write(fd, _empty_database())
    finally:
        os.close(fd)
