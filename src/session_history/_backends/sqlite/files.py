"""The SQLite file before and around the connection: checking a path before SQLite sees it, and
saying what a driver error means for the person who called."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from ..._errors import DatabaseError, NotADatabaseError

__all__ = ["SQLITE_HEADER", "prepare_file", "sqlite_error"]

SQLITE_HEADER = b"SQLite format 3\x00"

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
