"""session-history: a durable, searchable store of AI-agent chat sessions.

The public API is what this module exports, plus :mod:`session_history.hookspecs` (the hooks
plugins implement), :mod:`session_history.testing` (helpers for test suites) and the
``session-history`` command. The work lives in private modules named for what they hold:
``_models`` (the data), ``_config``, ``_history`` (the async store), ``_sync`` (its blocking
door), ``_background`` (the loop behind every blocking door), ``_plugins`` (the plugin manager),
``_errors``, ``_search`` (the query language), ``_codec`` (stored JSON), ``_urls``,
``_migrations`` and ``_backends`` (storage).
"""

from ._background import run_sync
from ._config import HistoryConfig
from ._errors import (
    ConnectionLostError,
    DatabaseError,
    HookError,
    InvalidQueryError,
    MigrationError,
    NotADatabaseError,
    RevisionConflictError,
    SchemaTooNewError,
    SessionExistsError,
    SessionHistoryError,
    SessionNotFoundError,
    StoreClosedError,
)
from ._history import SessionHistory
from ._models import Branch, ChatMessage, Role, Session, SessionSummary, ToolCall, Usage
from ._sync import SyncSessionHistory
from .hookspecs import hookimpl

__all__ = [
    "Branch",
    "ChatMessage",
    "ConnectionLostError",
    "DatabaseError",
    "HistoryConfig",
    "HookError",
    "InvalidQueryError",
    "MigrationError",
    "NotADatabaseError",
    "RevisionConflictError",
    "Role",
    "SchemaTooNewError",
    "Session",
    "SessionExistsError",
    "SessionHistory",
    "SessionHistoryError",
    "SessionNotFoundError",
    "SessionSummary",
    "StoreClosedError",
    "SyncSessionHistory",
    "ToolCall",
    "Usage",
    "hookimpl",
    "run_sync",
]
