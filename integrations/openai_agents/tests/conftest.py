"""Fixtures for the OpenAI Agents SDK session's tests: an open store per test, on SQLite and,
when ``$SESSION_HISTORY_TEST_POSTGRES_URL`` is set, on PostgreSQL too (the session must not
care)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from openai_agents_session_history import HistorySession
from pytest_session_history.store import drop_schema
from session_history import HistoryConfig, SessionHistory
from session_history.backends.postgres import with_schema


@pytest.fixture(params=["sqlite", "postgres"])
def oa_config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryConfig]:
    """Where the test's store lives: a file in ``tmp_path``, or a schema of its own."""
    if request.param == "sqlite":
        yield HistoryConfig(enabled=True, db_path=tmp_path / "oa.db", load_entrypoint_plugins=False)
        return
    url = os.environ.get("SESSION_HISTORY_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("PostgreSQL tests need $SESSION_HISTORY_TEST_POSTGRES_URL")
    schema = f"oa_test_{uuid.uuid4().hex[:12]}"
    yield HistoryConfig(enabled=True, url=with_schema(url, schema), load_entrypoint_plugins=False)
    drop_schema(url, schema)


@pytest.fixture
def oa_where(oa_config: HistoryConfig) -> str:
    """The store's location as ``from_path`` and the CLI take it: a file path or a URL."""
    return oa_config.url if oa_config.url is not None else str(oa_config.db_path)


@pytest.fixture
async def store(oa_config: HistoryConfig) -> AsyncIterator[SessionHistory]:
    """An open store."""
    async with SessionHistory(oa_config) as opened:
        yield opened


@pytest.fixture
def session(store: SessionHistory) -> HistorySession:
    """A ``HistorySession`` on the store, session id ``conv-1``."""
    return HistorySession("conv-1", store, agent_name="support", model="gpt-test")
