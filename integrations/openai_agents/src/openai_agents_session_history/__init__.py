"""The OpenAI Agents SDK on session-history: ``HistorySession``, a ``Session`` whose items are
kept losslessly in a session-history store and read as ordinary messages by everything else.

``convert`` holds the mapping between SDK items and ``ChatMessage`` (and documents it);
``session`` holds ``HistorySession``.
"""

from __future__ import annotations

from .convert import ITEM_KEY, RAW_ARGUMENTS_KEY, to_chat_message, to_items, usage_of
from .session import HistorySession

__all__ = [
    "ITEM_KEY",
    "RAW_ARGUMENTS_KEY",
    "HistorySession",
    "to_chat_message",
    "to_items",
    "usage_of",
]
