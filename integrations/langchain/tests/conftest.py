"""Fixtures for the LangChain adapter's tests: an open store per test, on SQLite and, when
``$SESSION_HISTORY_TEST_POSTGRES_URL`` is set, on PostgreSQL too (the adapter must not care)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pytest_session_history.store import drop_schema
from session_history import HistoryConfig, SessionHistory
from session_history.testing import with_schema


@pytest.fixture(params=["sqlite", "postgres"])
def lc_config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryConfig]:
    if request.param == "sqlite":
        yield HistoryConfig(enabled=True, db_path=tmp_path / "lc.db", load_entrypoint_plugins=False)
        return
    url = os.environ.get("SESSION_HISTORY_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("PostgreSQL tests need $SESSION_HISTORY_TEST_POSTGRES_URL")
    schema = f"lc_test_{uuid.uuid4().hex[:12]}"
    yield HistoryConfig(enabled=True, url=with_schema(url, schema), load_entrypoint_plugins=False)
    drop_schema(url, schema)


@pytest.fixture
async def store(lc_config: HistoryConfig) -> AsyncIterator[SessionHistory]:
    async with SessionHistory(lc_config) as opened:
        yield opened
