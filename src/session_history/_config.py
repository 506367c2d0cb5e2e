"""How a session history is set up: where, whether, and how much to keep."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, model_validator
from pydantic_core import core_schema

from ._urls import is_url, redact_url

__all__ = ["DB_ENV_VAR", "DatabaseUrl", "HistoryConfig", "default_db_path"]

DB_ENV_VAR = "SESSION_HISTORY_DB"
"""Environment variable naming the database when no path is given (the CLI reads it too)."""


def default_db_path() -> Path:
    """``$SESSION_HISTORY_DB`` if set to a file, else ``history.db`` in the user's data
    directory. (A URL there is no path: :class:`HistoryConfig` takes it as its ``url``.)"""
    env = os.environ.get(DB_ENV_VAR)
    if env and not is_url(env):
        return Path(env).expanduser()
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
            core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(
                _dump_url, info_arg=True
            ),
        )


def _dump_url(value: str, info: core_schema.SerializationInfo) -> str:
    # Python dumps keep the object (whose repr hides the password, and which validates back to
    # the same URL); JSON dumps are text for other eyes, so they hide it, as SecretStr's do.
    return redact_url(value) if info.mode_is_json() else value


class HistoryConfig(BaseModel):
    """Settings of a session history. Disabled by default, as in the reference design: a disabled
    history does no I/O and answers every read with nothing."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    db_path: Path = Field(default_factory=default_db_path)
    """The SQLite file; created (mode 0600, with its parent directories) when missing."""
    url: DatabaseUrl | None = None
    """A ``postgresql://`` URL: store in PostgreSQL instead of SQLite (extra ``postgres``).
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
    def _route_urls(cls, data: Any) -> Any:
        # A database "path" that is a PostgreSQL URL selects that backend, whatever its type: a
        # Path made of one (whose '//' is folded) is routed too, and refused by the backend with
        # a message that says why, rather than becoming a file under ./postgresql:/.
        if isinstance(data, dict):
            given = data.get("db_path")
            text = os.fspath(given) if isinstance(given, str | os.PathLike) else None
            env = os.environ.get(DB_ENV_VAR)
            if isinstance(text, str) and is_url(text):
                data = {**data, "url": text}
                data.pop("db_path")
            elif given is None and data.get("url") is None and env and is_url(env):
                data = {**data, "url": env}
        return data

    @property
    def location(self) -> str:
        """Where the data lives, for people: the file, or the URL without its password."""
        if self.url is not None:
            return redact_url(self.url)
        return str(self.db_path)
