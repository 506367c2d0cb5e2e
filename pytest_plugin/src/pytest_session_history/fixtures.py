"""The fixtures. The store fixtures are made by :mod:`.factories`, as yours would be; each has a
docstring, which ``pytest --fixtures`` shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from session_history import SessionHistory

from . import factories
from .builders import SessionFactory
from .options import available_backends
from .recorder import HookRecorder
from .store import make_template

__all__ = [
    "langchain_chat_history",
    "session_factory",
    "session_history",
    "session_history_backend",
    "session_history_config",
    "session_history_db",
    "session_history_hooks",
    "session_history_recorder",
    "session_history_sync",
    "session_history_template",
]


@pytest.fixture(scope="session")
def session_history_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated SQLite session-history database, built once per test run (and per
    xdist worker); ``session_history_db`` copies it for each test."""
    return make_template(tmp_path_factory.mktemp("session-history-template"))


@pytest.fixture
def session_history_backend(request: pytest.FixtureRequest) -> str:
    """The backend this test's store is on: ``"sqlite"`` or ``"postgresql"``. With
    ``--session-history-backends sqlite,postgresql`` a test runs once on each."""
    param = getattr(request, "param", None)
    return str(param) if param is not None else available_backends(request.config)[0]


session_history_db = factories.session_history_db(
    "session_history_db",
    doc="""The location of a fresh session-history database for this test: a file under
    ``tmp_path`` (copied from ``session_history_template``), or on PostgreSQL a URL naming a
    schema of this test's own (a str whose repr, as a failing test's report shows it, hides the
    password). Removed after the test unless ``--session-history-keep`` (ini
    ``session_history_keep``); then a failing test's report shows where it is and its
    sessions.""",
)

session_history_config = factories.session_history_config(
    "session_history_config",
    doc="""An enabled ``HistoryConfig`` on ``session_history_db``, as the ``session_history``
    marker sets it (``max_sessions``, ``max_age``...): for a test that opens stores of its own,
    for example with plugins of its own.""",
)

session_history = factories.session_history(
    "session_history",
    db="session_history_db",
    doc="""An open, enabled ``SessionHistory`` on ``session_history_db``, closed after the test.

    Await its methods from async tests under pytest-asyncio (strict or auto mode, any loop
    scope) or anyio's plugin; use ``session_history_sync`` from plain tests. Configure it with
    ``@pytest.mark.session_history(max_sessions=..., max_age=..., plugins=[...])``.""",
)

session_history_sync = factories.session_history_sync(
    "session_history_sync",
    history="session_history",
    doc="""The same store as ``session_history`` behind the blocking ``SyncSessionHistory``, for
    plain (non-async) tests; no async plugin needed.""",
)


@pytest.fixture
def session_history_hooks(session_history: SessionHistory) -> Iterator[HookRecorder]:
    """A ``HookRecorder`` registered on this test's store: ``.saved``, ``.popped``, ``.pruned``,
    ``.deleted`` and ``.calls`` hold every hook call, in order."""
    recorder = HookRecorder()
    session_history.plugin_manager.register(recorder, name="pytest-session-history-recorder")
    yield recorder
    session_history.plugin_manager.unregister(recorder)


@pytest.fixture
def session_history_recorder(session_history_hooks: HookRecorder) -> HookRecorder:
    """Every session this test's store saw, through its hooks: ``.session`` is the one an agent
    run created (loaded as stored now; a failure if there were none or several),
    ``.sessions`` all of them, ``.session_ids`` their ids in the order of their first write.
    ``await .aget_session()`` and ``.aget_sessions()`` are the async doors. The same recorder
    as ``session_history_hooks``."""
    return session_history_hooks


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
        # Not on PyPI (neither is this plugin's [langchain] extra): it installs from a checkout.
        reason="langchain-session-history is not installed; it is not on PyPI: from a checkout "
        'of session-history, run pip install -e . -e "./integrations/langchain"',
    )
    return adapter.SessionChatMessageHistory(f"test-{request.node.name}", session_history)
