"""Shared fixtures. Store tests take ``config``/``history`` and so run against every backend:
SQLite always, PostgreSQL when ``$SESSION_HISTORY_TEST_POSTGRES_URL`` names a server (``.ci/run``
sets it; without it those tests are skipped, saying so). Each PostgreSQL test works in a schema
of its own, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from session_history import HistoryConfig, SessionHistory, SyncSessionHistory
from session_history.testing import drop_schema as drop_url_schema
from session_history.testing import with_schema

POSTGRES_ENV = "SESSION_HISTORY_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgres"]


def postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(
            f"PostgreSQL tests need ${POSTGRES_ENV} (e.g. postgresql://postgres@127.0.0.1/test)"
        )
    return url


def drop_schema(url: str, schema: str) -> None:
    drop_url_schema(with_schema(url, schema))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def config(backend: str, tmp_path: Path) -> Iterator[HistoryConfig]:
    """An enabled config on a fresh database; entry-point plugins are never loaded in our tests."""
    if backend == "sqlite":
        yield HistoryConfig(
            enabled=True, db_path=tmp_path / "history.db", load_entrypoint_plugins=False
        )
        return
    url = postgres_url()
    schema = f"sh_test_{uuid.uuid4().hex[:12]}"
    yield HistoryConfig(enabled=True, url=with_schema(url, schema), load_entrypoint_plugins=False)
    drop_schema(url, schema)


@pytest.fixture
async def history(config: HistoryConfig) -> AsyncIterator[SessionHistory]:
    async with SessionHistory(config) as opened:
        yield opened


@pytest.fixture
def sync_history(config: HistoryConfig) -> Iterator[SyncSessionHistory]:
    with SyncSessionHistory(config) as opened:
        yield opened
