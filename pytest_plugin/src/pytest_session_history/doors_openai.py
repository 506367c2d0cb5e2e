"""The OpenAI Agents SDK's door as fixtures: ``openai_session`` and ``openai_session_factory``.

Both are on the test's store (``session_history``), so they run on every backend the run
selects. The SDK and the door are imported only when a test asks for one of them: importing the
plugin never imports a framework.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from session_history import SessionHistory

__all__ = ["openai_session", "openai_session_factory"]

_MISSING = (
    "openai-agents-session-history is not installed; it is not on PyPI: from a checkout of "
    'session-history, run pip install -e . -e "./integrations/openai_agents"'
)


def _door() -> Any:
    return pytest.importorskip("openai_agents_session_history", reason=_MISSING)


@pytest.fixture
def openai_session_factory(
    request: pytest.FixtureRequest, session_history: SessionHistory
) -> Callable[..., Any]:
    """Makes OpenAI Agents SDK sessions (``HistorySession``, the ``AdvancedSQLiteSession`` API:
    branches, turns, usage) on this test's store: ``openai_session_factory()`` gives a new
    session each call (ids ``test-<name>-1``, ``-2``...), ``openai_session_factory("id",
    model=...)`` one of that id (two calls with one id: two objects on one session, each with
    its own current branch, as the SDK's). Skipped when openai-agents-session-history is not
    installed."""
    door = _door()
    made = 0

    def make(session_id: str | None = None, **kwargs: Any) -> Any:
        nonlocal made
        made += 1
        name = session_id if session_id is not None else f"test-{request.node.name}-{made}"
        return door.HistorySession(name, session_history, **kwargs)

    return make


@pytest.fixture
def openai_session(request: pytest.FixtureRequest, session_history: SessionHistory) -> Any:
    """An OpenAI Agents SDK session (``HistorySession``) on this test's store, session id
    ``test-<name>``: pass it to ``Runner.run(agent, input, session=openai_session)``. Skipped
    when openai-agents-session-history is not installed."""
    return _door().HistorySession(f"test-{request.node.name}", session_history)
