"""Making, opening and removing the databases and stores the fixtures hand out.

Everything here is synchronous: a store is opened and closed on session-history's background
loop, and the fixtures that yield it are plain fixtures. The store keeps no state bound to an
event loop, so a test awaits its methods on whatever loop its async plugin runs (pytest-asyncio in
any mode or loop scope, anyio), and no async fixture is needed, which is what makes every async
plugin accept them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path

import pytest

from session_history import HistoryConfig, SessionHistory, SyncSessionHistory, run_sync, testing

from .options import database_url, keep_databases

__all__ = [
    "DB_KEY",
    "OPTIONS",
    "compare",
    "hidden",
    "hides",
    "make_template",
    "marker_options",
    "new_database",
    "open_store",
    "store_config",
]

DB_KEY = pytest.StashKey["Path | str"]()
"""Where a test's database is, for the failure report."""

OPTIONS = {"max_sessions", "max_age", "plugins", "load_entrypoint_plugins"}
"""What the marker and the factories configure."""


def make_template(directory: Path) -> Path:
    """An empty, fully migrated SQLite database: each test copies it instead of migrating anew."""
    path = directory / "template.db"
    with SyncSessionHistory(
        HistoryConfig(enabled=True, db_path=path, load_entrypoint_plugins=False)
    ):
        pass
    return path


@contextlib.contextmanager
def new_database(
    backend: str, config: pytest.Config, directory: Path, template: Path
) -> Iterator[Path | str]:
    """A fresh database on ``backend``: a copy of the template under ``directory``, or a
    PostgreSQL schema of its own. Removed afterwards unless the run keeps databases."""
    keep = keep_databases(config)
    if backend == "postgresql":
        url = database_url(config)
        assert url is not None  # the backend is offered only with a URL
        where = hidden(testing.with_schema(url, f"pytest_{uuid.uuid4().hex[:16]}"))
        yield where
        if not keep:
            testing.drop_schema(where)
        return
    path = directory / "session-history.db"
    shutil.copyfile(template, path)
    os.chmod(path, 0o600)
    yield path
    if not keep:
        for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            with contextlib.suppress(FileNotFoundError):
                file.unlink()


def hidden(url: str) -> str:
    """``url`` as the str that ``HistoryConfig.url`` is: the URL itself wherever it is used as
    text, but whose ``repr`` hides the password, so that a failing test's report (``-l``, an
    assertion's values) never shows it. ``==`` of two strings would still show their text as
    a diff: :func:`compare` hides that."""
    location = HistoryConfig(url=url).url
    assert location is not None
    return location


def hides(value: object) -> bool:
    """Whether ``value`` is a str that hides part of itself in its ``repr`` (see :func:`hidden`)."""
    return isinstance(value, str) and repr(value) != str.__repr__(value)


def compare(op: str, left: object, right: object) -> list[str] | None:
    """What a failed comparison with a hidden URL says (``pytest_assertrepr_compare``): the
    reprs, never the text diff pytest would print of two strings."""
    if not (hides(left) or hides(right)):
        return None
    return [
        f"{left!r} {op} {right!r}",
        "(a session-history database URL: compared as its text, shown without its password)",
    ]


def marker_options(node: pytest.Item | pytest.Collector) -> dict[str, object]:
    """The ``session_history`` marker's options, the closest marker last (so it wins)."""
    options: dict[str, object] = {}
    for marker in reversed(list(node.iter_markers("session_history"))):
        options.update(marker.kwargs)
    options.pop("backends", None)  # chooses where a test runs, read at collection
    unknown = set(options) - OPTIONS
    if unknown:
        raise pytest.UsageError(
            f"unknown session_history option(s) {sorted(unknown)}; known: "
            f"{sorted([*OPTIONS, 'backends'])}"
        )
    return options


def store_config(where: Path | str, options: Mapping[str, object]) -> HistoryConfig:
    """The config of a test's store: enabled, on ``where`` (a file or a URL), entry-point
    plugins off unless asked for."""
    max_age = options.get("max_age")
    return HistoryConfig.model_validate(
        {
            "enabled": True,
            "db_path": str(where),  # a file, or a postgresql:// URL
            "max_sessions": options.get("max_sessions"),
            "max_age": timedelta(seconds=max_age) if isinstance(max_age, int | float) else max_age,
            "load_entrypoint_plugins": bool(options.get("load_entrypoint_plugins", False)),
        }
    )


@contextlib.contextmanager
def open_store(config: HistoryConfig, plugins: Iterable[object] = ()) -> Iterator[SessionHistory]:
    """An open history, closed afterwards (both on the background loop)."""
    history = SessionHistory(config, plugins=plugins)
    run_sync(history.open)
    try:
        yield history
    finally:
        run_sync(history.close)
