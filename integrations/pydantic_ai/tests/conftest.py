"""Fixtures for the pydantic-ai integration's tests: an open store per test, on SQLite and, when
``$SESSION_HISTORY_TEST_POSTGRES_URL`` is set, on PostgreSQL too (the integration must not care)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pydantic_ai_session_history import PydanticAIHistory
from pytest_session_history.store import drop_schema
from session_history import HistoryConfig, SessionHistory
from session_history.backends.postgres import with_schema


@pytest.fixture(params=["sqlite", "postgres"])
def pai_config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryConfig]:
    """Where the test's store lives: a file under ``tmp_path``, or a schema of its own."""
    if request.param == "sqlite":
        yield HistoryConfig(
            enabled=True, db_path=tmp_path / "pai.db", load_entrypoint_plugins=False
        )
        return
    url = os.environ.get("SESSION_HISTORY_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("PostgreSQL tests need $SESSION_HISTORY_TEST_POSTGRES_URL")
    schema = f"pai_test_{uuid.uuid4().hex[:12]}"
    yield HistoryConfig(enabled=True, url=with_schema(url, schema), load_entrypoint_plugins=False)
    drop_schema(url, schema)


@pytest.fixture
def where(pai_config: HistoryConfig) -> str:
    """The store's location as the CLI's ``--db`` takes it."""
    return pai_config.url or str(pai_config.db_path)


@pytest.fixture
async def store(pai_config: HistoryConfig) -> AsyncIterator[SessionHistory]:
    """An open async store."""
    async with SessionHistory(pai_config) as opened:
        yield opened


@pytest.fixture
def pai(store: SessionHistory) -> PydanticAIHistory:
    """The pydantic-ai message store on ``store``."""
    return PydanticAIHistory(store, agent_name="weather")
