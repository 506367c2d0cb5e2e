"""LangChain on session-history: a lossless chat message history and an agent recorder.

``SessionChatMessageHistory`` needs only langchain-core. ``SessionHistoryMiddleware`` and the
LangGraph checkpointer ``SessionCheckpointer`` need the ``agents`` extra (``langchain>=1``, which
brings LangGraph) and are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._shared import close_shared_stores
from .convert import LANGCHAIN_KEY, from_chat_message, to_chat_message
from .history import SessionChatMessageHistory

if TYPE_CHECKING:
    from .checkpointer import SessionCheckpointer
    from .middleware import SessionHistoryMiddleware

__all__ = [
    "LANGCHAIN_KEY",
    "SessionChatMessageHistory",
    "SessionCheckpointer",
    "SessionHistoryMiddleware",
    "close_shared_stores",
    "from_chat_message",
    "to_chat_message",
]


def __getattr__(name: str) -> Any:
    if name == "SessionHistoryMiddleware":
        from .middleware import SessionHistoryMiddleware

        return SessionHistoryMiddleware
    if name == "SessionCheckpointer":
        from .checkpointer import SessionCheckpointer

        return SessionCheckpointer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
