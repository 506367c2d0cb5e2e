"""The stored JSON of messages and sessions, shared by every backend.

A message is stored as the JSON pydantic makes of it (defaults left out). Reads never build a
model row by row: the backends fetch JSON text and splice it into one document (a session with its
messages, an array of summaries), which pydantic-core validates in one call. That is several times
faster than building the models in Python, and it is why these helpers work on strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import JsonValue, TypeAdapter
from pydantic_core import PydanticSerializationError

from ._errors import InvalidQueryError
from ._models import ChatMessage, SearchHit, SessionSummary

__all__ = [
    "HITS",
    "MESSAGES",
    "METADATA",
    "SUMMARIES",
    "json_array",
    "message_body",
    "messages_array",
    "with_messages",
]

SUMMARIES = TypeAdapter(list[SessionSummary])
HITS = TypeAdapter(list[SearchHit])
MESSAGES = TypeAdapter(list[ChatMessage])
METADATA = TypeAdapter(list[JsonValue | None])


def message_body(message: ChatMessage) -> str:
    """The stored JSON of a message: defaults left out, so rows stay small."""
    try:
        return message.model_dump_json(exclude_defaults=True)
    except PydanticSerializationError as exc:
        # Lone surrogates (text decoded with surrogateescape, say) have no UTF-8 form.
        raise InvalidQueryError(
            f"a {message.role.value} message cannot be stored: {exc}; fix its text before saving it"
        ) from exc


def messages_array(messages: Sequence[ChatMessage]) -> str:
    """The stored JSON of many messages at once, as one JSON array (one call into pydantic-core
    instead of one per message): each element is exactly :func:`message_body`'s text."""
    try:
        return MESSAGES.dump_json(list(messages), exclude_defaults=True).decode()
    except PydanticSerializationError:
        for message in messages:
            message_body(message)  # names the message that cannot be stored
        raise


def json_array(items: Iterable[str]) -> str:
    """A JSON array of items that are JSON text already."""
    return "[" + ",".join(items) + "]"


def with_messages(head: str, bodies: Iterable[str]) -> str:
    """A session's JSON object (``head``, without messages) with its message bodies spliced in
    as ``"messages"``: the document of a ``Session`` or of an export line."""
    return head[:-1] + ',"messages":' + json_array(bodies) + "}"
