"""How a session history is set up: where, whether, and how much to keep."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ._urls import is_url, redact_url

__all__ = ["DB_ENV_VAR", "HistoryConfig", "default_db_path"]

DB_ENV_VAR = "SESSION_HISTORY_DB"
"""Environment variable naming the database when no path is given (the CLI reads it too)."""


def default_db_path() -> Path:
    """``$SESSION_HISTORY_DB`` if set, else ``history.db`` in the user's data directory."""
    env = os.environ.get(DB_ENV_VAR)
    if env:
        return Path(env).expanduser()
    # platformdirs knows each OS's convention (XDG on Linux, Application Support on macOS...).
    return platformdirs.user_data_path("session-history", appauthor=False) / "history.db"


class HistoryConfig(BaseModel):
    """Settings of a session history. Disabled by default, as in the reference design: a disabled
    history does no I/O and answers every read with nothing."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    db_path: Path = Field(default_factory=default_db_path)
    """The SQLite file; created (mode 0600, with its parent directories) when missing."""
    url: str | None = None
    """A ``postgresql://`` URL: store in PostgreSQL instead of SQLite (extra ``postgres``).
    ``?schema=NAME`` picks the PostgreSQL schema (default ``session_history``). A URL given as
    ``db_path``, or in ``$SESSION_HISTORY_DB``, lands here."""
    max_sessions: int | None = Field(default=None, ge=0)
    """``enforce_max_sessions`` keeps this many of the most recently updated sessions."""
    max_age: timedelta | None = None
    """``enforce_max_sessions`` also drops sessions not updated for longer than this."""
    load_entrypoint_plugins: bool = True
    """Load the hook plugins installed under the ``session_history`` entry-point group."""
    busy_timeout: timedelta = timedelta(seconds=30)
    """How long a write waits for another process's write to finish before failing."""

    @model_validator(mode="before")
    @classmethod
    def _route_urls(cls, data: Any) -> Any:
        # A database "path" that is a PostgreSQL URL selects that backend; a Path would mangle it.
        if isinstance(data, dict):
            given = data.get("db_path")
            env = os.environ.get(DB_ENV_VAR)
            if isinstance(given, str) and is_url(given):
                data = {**data, "url": given}
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
