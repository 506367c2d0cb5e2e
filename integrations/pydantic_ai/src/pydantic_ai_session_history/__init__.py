"""pydantic-ai on session-history: a durable, searchable message store for agents.

``HistoryConversationStore`` is pydantic-ai's own ``ConversationStore`` (``conversation=``, the UI
adapters' ``conversation_store=``) on a session-history store (``conversation_store``);
``PydanticAIHistory`` loads a session's messages for ``message_history=``, runs the agent and
appends what the run added (``history``). Both store the same form: the conversion between
pydantic-ai messages and the core's ``ChatMessage`` is in ``convert`` (grouping, verbatim storage)
and ``readable`` (each part as an ordinary message).
"""

from __future__ import annotations

from .conversation_store import HistoryConversationStore
from .convert import PYDANTIC_AI_KEY, from_chat_messages, to_chat_messages
from .history import PydanticAIHistory, RunNotRecordedWarning
from .usage import usage_of

__all__ = [
    "PYDANTIC_AI_KEY",
    "HistoryConversationStore",
    "PydanticAIHistory",
    "RunNotRecordedWarning",
    "from_chat_messages",
    "to_chat_messages",
    "usage_of",
]
