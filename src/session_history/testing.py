"""Helpers for test suites of code built on session-history.

The pytest plugin (``pytest-session-history``) and the integrations' own tests use them; so can
yours. Stable, documented API, unlike the private modules.
"""

from __future__ import annotations

from pathlib import Path

from ._backends.postgres.connection import drop_schema as _drop_schema
from ._background import run_sync
from ._config import HistoryConfig
from ._errors import SessionHistoryError
from ._render import sessions_table
from ._sync import SyncSessionHistory
from ._urls import with_schema

__all__ = ["describe_database", "drop_schema", "with_schema"]


def drop_schema(url: str) -> None:
    """Drop the PostgreSQL schema that ``url`` names (``?schema=``), with all it holds: for
    throwaway stores (tests, demos). Blocking; needs the ``postgres`` extra."""
    run_sync(_drop_schema, url)


MAX_ROWS = 10


def describe_database(location: str | Path) -> str:
    """Where a database is, how to browse it, and a table of its newest sessions: what a failing
    test's report shows about the test's store. Read-only: describing a database changes
    nothing in it."""
    config = HistoryConfig.model_validate(
        {
            "enabled": True,
            "db_path": str(location),
            "load_entrypoint_plugins": False,
            "read_only": True,
        }
    )
    lines = [
        f"kept at {config.location}",
        f"browse it: session-history --db {config.location} list",
    ]
    try:
        with SyncSessionHistory(config) as history:
            count = history.session_count()
            summaries = history.list_sessions(limit=MAX_ROWS)
    except SessionHistoryError as exc:
        return "\n".join([*lines, f"(could not read it: {exc})"])
    lines.append(f"{count} session(s)" + (f", newest {MAX_ROWS}:" if count > MAX_ROWS else ":"))
    if summaries:
        lines.append(sessions_table(summaries))
    return "\n".join(lines)
