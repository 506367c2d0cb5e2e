"""Shared fixtures. Store tests take ``config``/``history`` and so run against every backend the
``backend`` fixture lists (SQLite here; other backends add themselves to ``BACKENDS``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from session_history import HistoryConfig, SessionHistory, SyncSessionHistory

BACKENDS = ["sqlite"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def config(backend: str, tmp_path: Path) -> HistoryConfig:
    """An enabled config on a fresh database; entry-point plugins are never loaded in our tests."""
    return HistoryConfig(
        enabled=True, db_path=tmp_path / "history.db", load_entrypoint_plugins=False
    )


@pytest.fixture
async def history(config: HistoryConfig) -> AsyncIterator[SessionHistory]:
    async with SessionHistory(config) as opened:
        yield opened


@pytest.fixture
def sync_history(config: HistoryConfig) -> Iterator[SyncSessionHistory]:
    with SyncSessionHistory(config) as opened:
        yield opened
