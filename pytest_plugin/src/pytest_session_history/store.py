"""Opening and closing the stores the fixtures hand out, and the per-run template database."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from session_history import HistoryConfig, SessionHistory, SyncSessionHistory, run_sync, testing

__all__ = [
    "DB_KEY",
    "copy_template",
    "drop_schema",
    "make_template",
    "open_store",
    "remove_database",
]

DB_KEY = pytest.StashKey["Path | str"]()
"""Where a test's database is, for the failure report."""

_OPTIONS = {"max_sessions", "max_age", "plugins", "load_entrypoint_plugins"}


def make_template(directory: Path) -> Path:
    """An empty, fully migrated database: each test copies it instead of migrating anew."""
    path = directory / "template.db"
    with SyncSessionHistory(
        HistoryConfig(enabled=True, db_path=path, load_entrypoint_plugins=False)
    ):
        pass
    return path


def copy_template(template: Path, path: Path) -> Path:
    shutil.copyfile(template, path)
    os.chmod(path, 0o600)
    return path


def remove_database(path: Path) -> None:
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            file.unlink()


def drop_schema(url: str, schema: str) -> None:
    """Drop a test's PostgreSQL schema, with everything in it."""
    testing.drop_schema(testing.with_schema(url, schema))


@contextlib.contextmanager
def open_store(path: Path | str, options: Mapping[str, Any]) -> Iterator[SessionHistory]:
    """An open history on ``path``, closed afterwards.

    It is opened and closed on session-history's background loop, and the fixture that yields it
    is synchronous: the store keeps no state bound to an event loop, so a test awaits its methods
    on whatever loop its async plugin runs (pytest-asyncio in any mode or loop scope, anyio), and
    no async fixture is needed, which is what makes every async plugin accept it.
    """
    unknown = set(options) - _OPTIONS
    if unknown:
        raise pytest.UsageError(
            f"unknown session_history option(s) {sorted(unknown)}; known: {sorted(_OPTIONS)}"
        )
    max_age = options.get("max_age")
    config = HistoryConfig.model_validate(
        {
            "enabled": True,
            "db_path": str(path),  # a file, or a postgresql:// URL
            "max_sessions": options.get("max_sessions"),
            "max_age": timedelta(seconds=max_age) if isinstance(max_age, int | float) else max_age,
            "load_entrypoint_plugins": bool(options.get("load_entrypoint_plugins", False)),
        }
    )
    history = SessionHistory(config, plugins=options.get("plugins", ()))
    run_sync(history.open)
    try:
        yield history
    finally:
        run_sync(history.close)
