"""Storage backends. SQLite is the embedded default; see :mod:`.base` for the interface."""

from __future__ import annotations

from ..config import HistoryConfig
from .base import Backend, ListQuery, PruneResult, SaveResult

__all__ = ["Backend", "ListQuery", "PruneResult", "SaveResult", "open_backend"]


def open_backend(config: HistoryConfig) -> Backend:
    """The backend for ``config`` (not yet opened): PostgreSQL for a URL, else SQLite."""
    if config.url is not None:
        from .postgres import PostgresBackend

        return PostgresBackend(config.url, busy_timeout=config.busy_timeout.total_seconds())
    from .sqlite import SQLiteBackend

    return SQLiteBackend(config.db_path, busy_timeout=config.busy_timeout.total_seconds())
