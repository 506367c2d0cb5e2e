"""Storage backends: SQLite (embedded, the default), PostgreSQL (a URL), or none (disabled).

:mod:`.base` says what a backend provides; :mod:`.shared` holds what every backend does the same
way; each backend is a package split by concern.
"""

from __future__ import annotations

from .._config import HistoryConfig
from .base import Backend, ListQuery, PopResult, PruneResult, SaveResult
from .disabled import DisabledBackend
from .postgres import PostgresBackend
from .sqlite import SQLiteBackend

__all__ = ["Backend", "ListQuery", "PopResult", "PruneResult", "SaveResult", "open_backend"]


def open_backend(config: HistoryConfig) -> Backend:
    """The backend for ``config``, not yet opened: none when disabled, PostgreSQL for a URL,
    else SQLite."""
    timeout, read_only = config.busy_timeout.total_seconds(), config.read_only
    if not config.enabled:
        return DisabledBackend()
    if config.url is not None:
        wait = config.pool_timeout.total_seconds() if config.pool_timeout is not None else None
        return PostgresBackend(
            config.url,
            busy_timeout=timeout,
            read_only=read_only,
            pool_size=config.pool_size,
            pool_timeout=wait,
        )
    return SQLiteBackend(config.db_path, busy_timeout=timeout, read_only=read_only)
