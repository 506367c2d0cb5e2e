"""The fixtures. Each has a docstring, which ``pytest --fixtures`` shows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from session_history import SessionHistory, SyncSessionHistory
from session_history.testing import with_schema

from .builders import SessionFactory
from .options import database_url, keep_databases
from .recorder import HookRecorder
from .store import (
    DB_KEY,
    copy_template,
    drop_schema,
    make_template,
    open_store,
    remove_database,
)

__all__ = [
    "langchain_chat_history",
    "session_factory",
    "session_history",
    "session_history_db",
    "session_history_hooks",
    "session_history_sync",
    "session_history_template",
]


@pytest.fixture(scope="session")
def session_history_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated session-history database, built once per test run (and per xdist
    worker); ``session_history_db`` copies it for each test."""
    return make_template(tmp_path_factory.mktemp("session-history-template"))


@pytest.fixture
def session_history_db(
    request: pytest.FixtureRequest, tmp_path: Path, session_history_template: Path
) -> Iterator[Path | str]:
    """The path of a fresh session-history database for this test, under ``tmp_path`` (with
    ``--session-history-url``: a PostgreSQL URL naming a schema of this test's own).

    Removed after the test unless ``--session-history-keep`` (or ini ``session_history_keep``)
    is set; then a failing test's report shows where it is and its sessions.
    """
    url = database_url(request.config)
    if url is not None:
        schema = f"pytest_{uuid.uuid4().hex[:16]}"
        request.node.stash[DB_KEY] = where = with_schema(url, schema)
        yield where
        if not keep_databases(request.config):
            drop_schema(url, schema)
        return
    path = copy_template(session_history_template, tmp_path / "session-history.db")
    request.node.stash[DB_KEY] = path
    yield path
    if not keep_databases(request.config):
        remove_database(path)


def _marker_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    # Closest last, so a function's marker beats its class's and module's.
    for marker in reversed(list(request.node.iter_markers("session_history"))):
        options.update(marker.kwargs)
    return options


@pytest.fixture
def session_history(
    request: pytest.FixtureRequest, session_history_db: Path | str
) -> Iterator[SessionHistory]:
    """An open, enabled ``SessionHistory`` on ``session_history_db``, closed after the test.

    Await its methods from async tests under pytest-asyncio (strict or auto mode, any loop
    scope) or anyio's plugin; use ``session_history_sync`` from plain tests. Configure it with
    ``@pytest.mark.session_history(max_sessions=..., max_age=..., plugins=[...])``.
    """
    with open_store(session_history_db, _marker_options(request)) as history:
        yield history


@pytest.fixture
def session_history_sync(session_history: SessionHistory) -> Iterator[SyncSessionHistory]:
    """The same store as ``session_history`` behind the blocking ``SyncSessionHistory``, for
    plain (non-async) tests; no async plugin needed."""
    door = SyncSessionHistory.wrap(session_history)
    yield door
    door.close()


@pytest.fixture
def session_history_hooks(session_history: SessionHistory) -> Iterator[HookRecorder]:
    """A ``HookRecorder`` registered on this test's store: ``.saved``, ``.pruned``, ``.deleted``
    and ``.calls`` hold every hook call, in order."""
    recorder = HookRecorder()
    session_history.plugin_manager.register(recorder, name="pytest-session-history-recorder")
    yield recorder
    session_history.plugin_manager.unregister(recorder)


@pytest.fixture
def session_factory() -> SessionFactory:
    """Builds realistic, deterministic ``Session`` and ``ChatMessage`` objects:
    ``session_factory(turns=2)``, ``.turn()``, ``.user(...)``, ``.tool_call(...)``."""
    return SessionFactory()


@pytest.fixture
def langchain_chat_history(request: pytest.FixtureRequest, session_history: SessionHistory) -> Any:
    """A LangChain ``SessionChatMessageHistory`` on this test's store (session id: the test's
    name). Skipped when langchain-session-history is not installed."""
    adapter = pytest.importorskip(
        "langchain_session_history",
        reason="langchain-session-history is not installed "
        "(pip install 'pytest-session-history[langchain]')",
    )
    return adapter.SessionChatMessageHistory(f"test-{request.node.name}", session_history)
