"""Fixtures for the LangChain adapter's tests: an open store on a fresh file per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from session_history import HistoryConfig, SessionHistory


@pytest.fixture
def lc_config(tmp_path: Path) -> HistoryConfig:
    return HistoryConfig(enabled=True, db_path=tmp_path / "lc.db", load_entrypoint_plugins=False)


@pytest.fixture
async def store(lc_config: HistoryConfig) -> AsyncIterator[SessionHistory]:
    async with SessionHistory(lc_config) as opened:
        yield opened
