"""The session's tests use pytest-session-history's fixtures (``session_history``,
``session_history_db``...), so each runs on SQLite and on PostgreSQL (the session must not care),
plus the session this package adds."""

from __future__ import annotations

import pytest

from openai_agents_session_history import HistorySession
from session_history import SessionHistory


@pytest.fixture
def session(session_history: SessionHistory) -> HistorySession:
    """A ``HistorySession`` on the test's store, session id ``conv-1``."""
    return HistorySession("conv-1", session_history, agent_name="support", model="gpt-test")
