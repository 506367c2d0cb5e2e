"""Fixture factories: the plugin's own fixtures are made by them, and so can yours (as
pytest-postgresql's are), for more stores or another scope::

    from pytest_session_history import factories

    archive = factories.session_history("archive", scope="module", max_sessions=10)
    archive_sync = factories.session_history_sync("archive_sync", scope="module")

Every fixture they make honours ``--session-history-url``/``--session-history-backends`` (where
the database lives) and the ``session_history`` marker (how the store is configured; the closest
marker wins over the factory's arguments). A function-scoped database runs its test once per
backend asked for; a wider one uses the first backend that can run.

The fixtures name the fixtures they stand on in their signatures (set here, since the names are
the factory's arguments), so pytest sees the whole chain when it collects: that is what lets it
run a test once per backend.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Literal

import pytest

from session_history import HistoryConfig, SessionHistory, SyncSessionHistory

from .options import available_backends
from .store import DB_KEY, marker_options, new_database, open_store, store_config

__all__ = [
    "session_history",
    "session_history_config",
    "session_history_db",
    "session_history_sync",
]

Scope = Literal["session", "package", "module", "class", "function"]
Fixture = Callable[..., object]

_PER_TEST = ("request", "tmp_path", "session_history_template", "session_history_backend")
_WIDER = ("request", "tmp_path_factory", "session_history_template")


def _taking(names: Sequence[str]) -> Callable[[Callable[..., object]], Callable[..., object]]:
    """Give a ``**kwargs`` function the signature pytest reads its fixtures from."""

    def decorate(fn: Callable[..., object]) -> Callable[..., object]:
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        fn.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(name, kind) for name in names]
        )
        return fn

    return decorate


@contextlib.contextmanager
def _database(scope: Scope, name: str, args: dict[str, object]) -> Iterator[Path | str]:
    """A fresh database for a fixture of ``scope`` (``args``: its ``_PER_TEST`` or ``_WIDER``
    fixtures): per test under its ``tmp_path`` on the test's backend, else in a directory of its
    own on the first backend that can run."""
    request = args["request"]
    template = args["session_history_template"]
    assert isinstance(request, pytest.FixtureRequest) and isinstance(template, Path)
    if scope == "function":
        backend, directory = args["session_history_backend"], args["tmp_path"]
        if name != "session_history_db":  # another store of the same test: a file of its own
            assert isinstance(directory, Path)
            directory = directory / name
            directory.mkdir(mode=0o700)
    else:
        factory = args["tmp_path_factory"]
        assert isinstance(factory, pytest.TempPathFactory)
        backend, directory = available_backends(request.config)[0], factory.mktemp(name)
    assert isinstance(backend, str) and isinstance(directory, Path)
    with new_database(backend, request.config, directory, template) as where:
        if scope == "function":
            request.node.stash[DB_KEY] = where
        yield where


def session_history_db(
    name: str = "session_history_db", *, scope: Scope = "function", doc: str | None = None
) -> Fixture:
    """A fixture named ``name`` giving the location of a fresh database (a file path, or a
    PostgreSQL URL naming a schema of its own), removed after its scope unless the run keeps
    databases. ``doc`` is what ``pytest --fixtures`` shows for it."""

    @_taking(_PER_TEST if scope == "function" else _WIDER)
    def fixture(**args: object) -> Iterator[Path | str]:
        with _database(scope, name, args) as where:
            yield where

    fixture.__doc__ = doc or f"A fresh session-history database, scope {scope!r}."
    return pytest.fixture(fixture, scope=scope, name=name)


def session_history_config(
    name: str = "session_history_config",
    *,
    db: str = "session_history_db",
    scope: Scope = "function",
    max_sessions: int | None = None,
    max_age: timedelta | float | None = None,
    doc: str | None = None,
) -> Fixture:
    """A fixture named ``name`` giving the ``HistoryConfig`` of a store on fixture ``db``, set
    by the factory's options and the ``session_history`` marker."""
    defaults = {"max_sessions": max_sessions, "max_age": max_age}

    @_taking(("request", db))
    def fixture(**args: object) -> HistoryConfig:
        request = args["request"]
        assert isinstance(request, pytest.FixtureRequest)
        options = {**defaults, **marker_options(request.node)}
        options.pop("plugins", None)  # plugins belong to a store, not to its config
        return store_config(_location(args[db]), options)

    fixture.__doc__ = doc or f"An enabled ``HistoryConfig`` on ``{db}``."
    return pytest.fixture(fixture, scope=scope, name=name)


def session_history(
    name: str,
    *,
    db: str | None = None,
    scope: Scope = "function",
    max_sessions: int | None = None,
    max_age: timedelta | float | None = None,
    plugins: Sequence[object] = (),
    doc: str | None = None,
) -> Fixture:
    """A fixture named ``name`` giving an open ``SessionHistory``, closed after ``scope``: on
    fixture ``db``'s database, or on a fresh database of its own when ``db`` is None."""
    defaults = {"max_sessions": max_sessions, "max_age": max_age, "plugins": plugins}
    return _store(name, db, scope, defaults, doc, blocking=False)


def session_history_sync(
    name: str,
    *,
    db: str | None = None,
    scope: Scope = "function",
    max_sessions: int | None = None,
    max_age: timedelta | float | None = None,
    plugins: Sequence[object] = (),
    history: str | None = None,
    doc: str | None = None,
) -> Fixture:
    """Like :func:`session_history`, giving a ``SyncSessionHistory``; with ``history`` (the
    name of a ``SessionHistory`` fixture), a blocking door onto that fixture's store instead of
    a store of its own (both then see the same hooks)."""
    if history is None:
        defaults = {"max_sessions": max_sessions, "max_age": max_age, "plugins": plugins}
        return _store(name, db, scope, defaults, doc, blocking=True)

    @_taking((history,))
    def door(**args: object) -> SyncSessionHistory:
        store = args[history]
        assert isinstance(store, SessionHistory), f"{history} is not a SessionHistory fixture"
        # Not closed here: closing a door closes the store behind it, which belongs to its own
        # fixture (it may outlive this one, being of a wider scope).
        return SyncSessionHistory.wrap(store)

    door.__doc__ = doc or f"A blocking door onto ``{history}``, scope {scope!r}."
    return pytest.fixture(door, scope=scope, name=name)


def _store(
    name: str,
    db: str | None,
    scope: Scope,
    defaults: Mapping[str, object],
    doc: str | None,
    *,
    blocking: bool,
) -> Fixture:
    if db is not None:
        takes: Sequence[str] = ("request", db)
    else:
        takes = _PER_TEST if scope == "function" else _WIDER

    @_taking(takes)
    def fixture(**args: object) -> Iterator[SessionHistory | SyncSessionHistory]:
        request = args["request"]
        assert isinstance(request, pytest.FixtureRequest)
        options = {**defaults, **marker_options(request.node)}
        plugins = options.pop("plugins", ())
        assert isinstance(plugins, Sequence)
        with contextlib.ExitStack() as stack:
            where = _location(args[db]) if db else stack.enter_context(_database(scope, name, args))
            history = stack.enter_context(open_store(store_config(where, options), plugins))
            if not blocking:
                yield history
                return
            door = SyncSessionHistory.wrap(history)
            yield door
            door.close()

    kind = "SyncSessionHistory" if blocking else "SessionHistory"
    fixture.__doc__ = doc or f"An open {kind}, scope {scope!r}."
    return pytest.fixture(fixture, scope=scope, name=name)


def _location(value: object) -> Path | str:
    assert isinstance(value, Path | str), f"not a database location: {value!r}"
    return value
