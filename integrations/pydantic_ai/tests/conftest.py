"""The integration's tests use pytest-session-history's fixtures (``session_history``,
``session_history_db``...), so each runs on SQLite and on PostgreSQL (the integration must not
care), plus the store this package adds."""

from __future__ import annotations

import pytest

from pydantic_ai_session_history import PydanticAIHistory
from session_history import SessionHistory


@pytest.fixture
def pai(session_history: SessionHistory) -> PydanticAIHistory:
    """The pydantic-ai message store on the test's store."""
    return PydanticAIHistory(session_history, agent_name="weather")
