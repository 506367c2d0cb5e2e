"""How a session history is set up: where, whether, and how much to keep."""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, model_validator
from pydantic_core import core_schema

from ._errors import DatabaseError
from ._urls import TargetError, redact_url, resolve

__all__ = ["DB_ENV_VAR", "DatabaseUrl", "HistoryConfig", "default_db_path"]

DB_ENV_VAR = "SESSION_HISTORY_DB"
"""Environment variable naming the database when no path is given (the CLI reads it too)."""


def default_db_path() -> Path:
    """``$SESSION_HISTORY_DB`` if set to a file, else ``history.db`` in the user's data
    directory. (A URL there is no path: :class:`HistoryConfig` takes it as its ``url``, and
    refuses a form it does not take.)"""
    env = os.environ.get(DB_ENV_VAR)
    if env:
        with contextlib.suppress(TargetError):
            kind, where = resolve(env)
            if kind == "file":
                return Path(where).expanduser()
    # platformdirs knows each OS's convention (XDG on Linux, Application Support on macOS...).
    return platformdirs.user_data_path("session-history", appauthor=False) / "history.db"


class DatabaseUrl(str):
    """A database URL that keeps its password out of sight: the real URL wherever it is used as a
    string (``config.url`` is what the driver gets), but its ``repr`` and its JSON form hide the
    password, as pydantic's ``SecretStr`` does. So ``repr(config)``, ``str(config)``,
    ``repr(config.model_dump())`` and ``config.model_dump_json()`` never show it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"DatabaseUrl({redact_url(self)!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls,
            # Strict: bytes are no URL (as they are no Path), and are refused, not decoded.
            core_schema.str_schema(strict=True),
            serialization=core_schema.plain_serializer_function_ser_schema(
                _dump_url, info_arg=True
            ),
        )


def _dump_url(value: str, info: core_schema.SerializationInfo) -> str:
    # Python dumps keep the object (whose repr hides the password, and which validates back to
    # the same URL); JSON dumps are text for other eyes, so they hide it, as SecretStr's do.
    return redact_url(value) if info.mode_is_json() else value


class HistoryConfig(BaseModel):
    """Settings of a session history. ``HistoryConfig()`` is disabled, as in the reference
    design: a disabled history does no I/O and answers every read with nothing.

    Naming a database enables it: ``db_path`` or ``url`` given, or ``$SESSION_HISTORY_DB`` set,
    is ``enabled=True`` unless ``enabled=False`` is given too (the documented opt-out). A history
    that dropped every write to the database its user named, without a word, loses data
    silently; one that writes where it was told is at worst a surprise.

    Where the database is may be given in these forms only, on ``db_path``, ``url`` or
    ``$SESSION_HISTORY_DB``: a PostgreSQL URL (``postgresql://``, ``postgres://``, or
    SQLAlchemy's ``postgresql+asyncpg://``, ``+psycopg://``, ``+psycopg2://``, taken as
    ``postgresql://``), an SQLite file as ``sqlite:///PATH`` (SQLAlchemy's form: four slashes for
    an absolute path) or a ``file:`` URI, or a plain path. Any other form (a libpq keyword DSN
    ``host=... dbname=...``, ``mysql://``, another ``scheme://``, an empty path) is refused with
    a :class:`~session_history.DatabaseError`, never taken for a file named after it. Errors
    never show the values given (``hide_input_in_errors``): one may hold a password.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    enabled: bool = False
    """Store, or do nothing (see above: naming a database sets it)."""
    db_path: Path = Field(default_factory=default_db_path)
    """The SQLite file; created (mode 0600, and its missing parent directories 0700) when
    missing. An existing file must be an SQLite database: an empty one, or a device such as
    ``/dev/null``, is refused, not made into one."""
    url: DatabaseUrl | None = None
    """A PostgreSQL URL: store in PostgreSQL instead of SQLite (extra ``postgres``).
    ``?schema=NAME`` picks the PostgreSQL schema (default ``session_history``). A URL given as
    ``db_path`` (a string; a ``Path`` made of a URL is refused when the store is made, since
    ``Path`` folds ``//``), or in ``$SESSION_HISTORY_DB``, lands here. Its password never shows
    in a repr or a JSON dump (:class:`DatabaseUrl`)."""
    read_only: bool = False
    """Only read: never create the database, apply a migration or write (a write raises
    :class:`~session_history.DatabaseError`). The CLI's reading commands open stores so."""
    max_sessions: int | None = Field(default=None, ge=0)
    """``enforce_max_sessions`` keeps this many of the most recently updated sessions."""
    max_age: timedelta | None = None
    """``enforce_max_sessions`` also drops sessions not updated for longer than this."""
    load_entrypoint_plugins: bool = True
    """Load the hook plugins installed under the ``session_history`` entry-point group."""
    session_ttl: timedelta | None = None
    """Sliding expiry: every write to a session sets its ``expires_at`` this far ahead. An
    expired session reads as missing; ``prune(expired=True)`` (``session-history prune
    --expired``, and ``enforce_max_sessions``) deletes it."""
    busy_timeout: timedelta = timedelta(seconds=30)
    """How long a write waits for another process's write to finish before failing."""
    pool_size: int | None = Field(default=None, ge=1, le=1000)
    """PostgreSQL: the most connections the store opens per event loop (default 10, or the URL's
    ``?pool_size=``); calls beyond them wait for a free one. When the server refuses one (a
    role's ``CONNECTION LIMIT``), the store works with those it has."""
    pool_timeout: timedelta | None = Field(default=None, gt=timedelta(0))
    """PostgreSQL: how long a call waits for a free connection before failing (default 30 s, or
    the URL's ``?pool_timeout=`` in seconds)."""

    @model_validator(mode="before")
    @classmethod
    def _route(cls, data: Any) -> Any:
        # What names the database is decided on the string, whatever its type (see _urls): a
        # Path made of a PostgreSQL URL (whose '//' is folded) is routed to ``url`` too, and
        # refused by the backend with a message that says why, rather than becoming a file
        # under ./postgresql:/.
        if not isinstance(data, dict):
            return data
        data = dict(data)
        field = next((name for name in ("url", "db_path") if data.get(name) is not None), None)
        given = data[field] if field is not None else os.environ.get(DB_ENV_VAR) or None
        resolved = _resolve(given) if given is not None else None
        if resolved is not None:
            kind, where = resolved
            if field is not None:
                del data[field]  # a URL that names a file moves to db_path, and back
            if kind == "url":
                data["url"] = where
            elif field is not None:
                data["db_path"] = where  # (a file named in the environment: the default's)
        if given is not None:
            data.setdefault("enabled", True)
        return data

    @property
    def location(self) -> str:
        """Where the data lives, for people: the file, or the URL without its password."""
        if self.url is not None:
            return redact_url(self.url)
        return str(self.db_path)


def _resolve(given: object) -> tuple[str, str] | None:
    """:func:`~session_history._urls.resolve` of a str or a path (anything else is left to
    pydantic, which refuses it without showing it); a refused form is a one-line
    :class:`DatabaseError`, its password hidden."""
    if not isinstance(given, str | os.PathLike):
        return None
    text = os.fspath(given)
    if not isinstance(text, str):
        return None
    try:
        return resolve(text)
    except TargetError as exc:
        raise DatabaseError(str(exc), path=redact_url(text)) from None
