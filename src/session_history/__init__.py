"""session-history: a durable, searchable store of AI-agent chat sessions.

The public names are re-exported here; the work lives in modules named for what they hold:
``models`` (the data), ``config``, ``history`` (the async store), ``sync`` (its blocking door),
``hookspecs`` and ``plugins`` (extension), ``errors``, ``migrations`` and ``backends`` (storage).
"""

from .config import HistoryConfig
from .errors import (
    DatabaseError,
    HookError,
    InvalidQueryError,
    MigrationError,
    NotADatabaseError,
    SchemaTooNewError,
    SessionExistsError,
    SessionHistoryError,
    SessionNotFoundError,
    StoreClosedError,
)
from .history import SessionHistory
from .hookspecs import hookimpl
from .models import ChatMessage, Role, Session, SessionSummary, ToolCall, Usage
from .sync import SyncSessionHistory

__all__ = [
    "ChatMessage",
    "DatabaseError",
    "HistoryConfig",
    "HookError",
    "InvalidQueryError",
    "MigrationError",
    "NotADatabaseError",
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
]
