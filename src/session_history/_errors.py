"""Every error session-history raises, in one hierarchy.

Catch :class:`SessionHistoryError` to catch them all::

    SessionHistoryError
    ├── DatabaseError                 the database file or server cannot be used (.path)
    │   ├── NotADatabaseError         the file is not SQLite, or not ours
    │   ├── SchemaTooNewError         written by a newer session-history
    │   ├── MigrationError            an upgrade of the schema failed (nothing changed)
    │   ├── ConnectionLostError       the connection to the server was lost: try again
    │   └── StoreClosedError          the store was used after close()
    ├── SessionNotFoundError          no session with that id (.session_id)
    ├── SessionExistsError            create_session of an id already stored (.session_id)
    ├── RevisionConflictError         the session changed since the revision a write expected
    ├── InvalidQueryError             a query, or data, the store cannot take as given
    └── HookError                     a plugin's hook raised after the write was committed

Messages end with what to do next: they are read by people at a terminal.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ConnectionLostError",
    "DatabaseError",
    "HookError",
    "InvalidQueryError",
    "MigrationError",
    "NotADatabaseError",
    "RevisionConflictError",
    "SchemaTooNewError",
    "SessionExistsError",
    "SessionHistoryError",
    "SessionNotFoundError",
    "StoreClosedError",
]


class SessionHistoryError(Exception):
    """Base class of every error raised by session-history."""


class DatabaseError(SessionHistoryError):
    """The database cannot be opened, read or written."""

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.path = str(path) if path is not None else None


class NotADatabaseError(DatabaseError):
    """The file is not an SQLite database, or is one that belongs to another program."""


class SchemaTooNewError(DatabaseError):
    """The database was written by a newer version of session-history."""

    def __init__(
        self, message: str, *, path: str | Path | None = None, unknown: list[str] | None = None
    ) -> None:
        super().__init__(message, path=path)
        self.unknown_migrations = unknown or []


class MigrationError(DatabaseError):
    """A schema migration failed; that step was rolled back, so no data changed."""


class ConnectionLostError(DatabaseError):
    """The connection to the database server was lost (or could not be made); the call may be
    retried, and the next one opens a new connection."""


class StoreClosedError(DatabaseError):
    """The store was used before it was opened or after it was closed."""


class SessionNotFoundError(SessionHistoryError):
    """No session with this id is stored."""

    def __init__(self, session_id: str, *, scope: str | None = None) -> None:
        where = f" in scope {scope!r}" if scope is not None else ""
        super().__init__(
            f"no session with id {session_id!r}{where}; create it first "
            "(create_session or save_session), or list the stored ids with list_sessions"
        )
        self.session_id = session_id


class SessionExistsError(SessionHistoryError):
    """create_session was given an id that is already stored."""

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"a session with id {session_id!r} already exists; use save_session to "
            "overwrite it or append_messages to add to it"
        )
        self.session_id = session_id


class RevisionConflictError(SessionHistoryError):
    """A write's ``expected_revision`` is not the stored one: someone else changed the session
    first. Nothing was written."""

    def __init__(self, session_id: str, expected: int, stored: int) -> None:
        super().__init__(
            f"session {session_id!r} is at revision {stored}, not {expected}: another writer "
            "changed it first and nothing was written; read it again and retry on its revision"
        )
        self.session_id = session_id
        self.expected = expected
        self.stored = stored


class InvalidQueryError(SessionHistoryError):
    """A search or listing query, or data, that the store cannot take as given."""


class HookError(SessionHistoryError):
    """A plugin's hook implementation raised; the data it was told about is committed."""

    def __init__(
        self,
        hook_name: str,
        plugin_name: str,
        errors: list[BaseException],
        *,
        plugin: object | None = None,
    ) -> None:
        first = errors[0]
        more = f" (and {len(errors) - 1} more hook error(s))" if len(errors) > 1 else ""
        super().__init__(
            f"plugin {plugin_name!r} raised in {hook_name}: {type(first).__name__}: {first}"
            f"{more}; the write itself was committed. Fix or unregister the plugin."
        )
        self.hook_name = hook_name
        self.plugin_name = plugin_name
        """The plugin's registered name, or its class's name when it was registered without
        one (pluggy would name it by a number)."""
        self.plugin = plugin
        """The plugin object itself: ``history.plugin_manager.unregister(error.plugin)``."""
        self.errors = errors
