"""Lossless conversion between pydantic-ai messages and session-history's ``ChatMessage``.

A ``ModelRequest`` or ``ModelResponse`` holds several parts; each part is stored as one ordinary
``ChatMessage`` (:mod:`.readable` has the mapping), so the CLI, search, exports and other
integrations read a pydantic-ai conversation like any other. The message itself is stored once,
verbatim, on the first ``ChatMessage`` of its group (the *head*)::

    head.metadata["pydantic_ai"]   = {"message": "<the message as ModelMessagesTypeAdapter
                                       writes it: JSON text>", "parts": [0, 1, 2]}
    member.metadata["pydantic_ai"] = {"part": 1}

``parts`` lists, for each ``ChatMessage`` of the group in order, the index of the part it reads
(``None`` for the request's instructions, or for the one message that carries a request or
response with no part of its own to read); each member names its part again. The verbatim form
is kept as text rather than as a JSON object so that no backend can change a byte of it
(PostgreSQL's ``jsonb`` rewrites numbers), and so that loading a session is a single
``validate_json`` over the concatenated texts.

Reading back, a complete group gives back its verbatim message. A group that lost its last
members (``pop_messages`` removes messages from the end) gives back the verbatim message without
the parts those members read. Messages with no verbatim form (written through the core API or
by another integration, or members whose head is gone) read as the pydantic-ai messages their
roles imply: consecutive system, user and tool messages form one ``ModelRequest``, consecutive
assistant messages one ``ModelResponse``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any, Literal, cast

from pydantic import JsonValue, ValidationError
from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelRequestPart,
    ModelResponse,
    ModelResponsePart,
    SystemPromptPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_core import PydanticSerializationError

from session_history import ChatMessage, InvalidQueryError, Role

from .readable import read_request, read_response

__all__ = [
    "PYDANTIC_AI_KEY",
    "from_chat_messages",
    "from_metadata",
    "read_entries",
    "to_chat_messages",
]

PYDANTIC_AI_KEY = "pydantic_ai"
"""The ``ChatMessage.metadata`` key under which a pydantic-ai message is kept."""

_OUTCOMES = {"success", "failed", "denied", "interrupted", "retried"}
_OUTCOME_OF_STATUS = {"error": "failed"}  # LangChain's ToolMessage status


def to_chat_messages(
    messages: Sequence[ModelMessage], *, entry_ids: Sequence[str] | None = None
) -> list[ChatMessage]:
    """pydantic-ai messages as ``ChatMessage``\\ s: one per part, each message stored once.

    A request's instructions read as a system message when they differ from the previous
    request's in ``messages`` (each request of a run repeats them; readers see each change once).

    Args:
        messages: The pydantic-ai messages, in order.
        entry_ids: One entry id per message: the last ``ChatMessage`` of its group gets it, so
            the group's end is the entry the store knows it by (a session's head, a branch's
            tip, a fork's point); the others get it with ``.1``, ``.2``... after it. By default
            the store gives each ``ChatMessage`` an id of its own.

    Raises:
        InvalidQueryError: an item is not a pydantic-ai message, or cannot be written as JSON.
    """
    if entry_ids is not None and len(entry_ids) != len(messages):
        raise InvalidQueryError(
            f"{len(entry_ids)} entry ids for {len(messages)} messages; give one per message"
        )
    converted: list[ChatMessage] = []
    instructions: str | None = None
    for index, message in enumerate(messages):
        verbatim = _dump(message, index)  # first: it also refuses what is not a message
        if isinstance(message, ModelRequest):
            readings = read_request(message, with_instructions=message.instructions != instructions)
            instructions = message.instructions
            carrier_role = Role.SYSTEM
        else:
            readings = read_response(message)
            carrier_role = Role.ASSISTANT
        if not readings:  # nothing to read (only deltas, say): one message carries it
            readings = [(None, ChatMessage(role=carrier_role, timestamp=message.timestamp))]
        (first, head), *members = readings
        parts: list[JsonValue] = [first, *(part for part, _ in members)]
        head.metadata = {PYDANTIC_AI_KEY: {"message": verbatim, "parts": parts}}
        group = [head]
        for part, member in members:
            member.metadata = {PYDANTIC_AI_KEY: {"part": part}}
            group.append(member)
        if entry_ids is not None:
            for number, member in enumerate(group[:-1], start=1):
                member.entry_id = f"{entry_ids[index]}.{number}"
            group[-1].entry_id = entry_ids[index]
        converted.extend(group)
    return converted


def _dump(message: object, index: int) -> str:
    if not isinstance(message, ModelRequest | ModelResponse):
        raise InvalidQueryError(
            f"item {index} is a {type(message).__name__}, not a pydantic-ai ModelRequest or "
            "ModelResponse; pass messages as result.new_messages() gives them"
        )
    try:
        # One message of the list ModelMessagesTypeAdapter writes, byte for byte.
        return ModelMessagesTypeAdapter.dump_json([message])[1:-1].decode()
    except PydanticSerializationError as exc:
        raise InvalidQueryError(
            f"item {index} cannot be written as JSON ({exc}); make tool return values "
            "JSON-serialisable before storing them"
        ) from exc


@dataclasses.dataclass
class _Verbatim:
    text: str
    dropped: list[int | None]
    """The parts whose messages were removed from the end of the group."""
    end: int
    """The position of the group's last message."""


def from_chat_messages(messages: Sequence[ChatMessage]) -> list[ModelMessage]:
    """The pydantic-ai messages that stored ``ChatMessage``\\ s stand for, ready for
    ``message_history=``.

    Raises:
        InvalidQueryError: a stored pydantic-ai message cannot be read by this pydantic-ai
            version (it was written by a newer one, say).
    """
    return [message for message, _ in read_entries(messages)]


def read_entries(messages: Sequence[ChatMessage]) -> list[tuple[ModelMessage, int]]:
    """Each pydantic-ai message that ``messages`` stand for, with the position in ``messages``
    of the last ``ChatMessage`` it was read from (whose entry id is the message's entry id).

    Raises:
        InvalidQueryError: as :func:`from_chat_messages`.
    """
    items = list(_groups([message.metadata.get(PYDANTIC_AI_KEY) for message in messages]))
    texts = [item.text for item in items if isinstance(item, _Verbatim)]
    verbatim: Iterator[ModelMessage] = iter(_validate(texts))
    tool_names: dict[str, str] = {}
    if len(texts) < len(items):  # messages without a verbatim form: name their tool results
        tool_names = {call.id: call.name for m in messages for call in m.tool_calls or []}
    loaded: list[tuple[ModelMessage, int]] = []
    for item in items:
        if isinstance(item, _Verbatim):
            loaded.append((_restored(next(verbatim), item), item.end))
        else:
            loaded.extend(_by_role([(at, messages[at]) for at in item], tool_names))
    return loaded


def from_metadata(values: Sequence[JsonValue | None]) -> list[ModelMessage] | None:
    """The pydantic-ai messages that the stored messages' ``metadata["pydantic_ai"]`` values
    stand for (``SessionHistory.load_metadata``: no ``ChatMessage`` is built); None when one of
    them has none (a message written otherwise), which only the whole messages can stand for.
    """
    items = list(_groups(values))
    if any(not isinstance(item, _Verbatim) for item in items):
        return None
    groups = [item for item in items if isinstance(item, _Verbatim)]
    messages = _validate([group.text for group in groups])
    return [_restored(message, group) for message, group in zip(messages, groups, strict=True)]


def _restored(message: ModelMessage, group: _Verbatim) -> ModelMessage:
    return _without(message, group.dropped) if group.dropped else message


def _groups(metas: Sequence[JsonValue | None]) -> Iterator[_Verbatim | list[int]]:
    """Verbatim groups, and runs of messages (by position) that have none, in order;
    ``metas`` holds each message's ``metadata["pydantic_ai"]``."""
    ordinary: list[int] = []
    at = 0
    while at < len(metas):
        data = metas[at]
        if not (
            isinstance(data, dict)
            and isinstance(data.get("message"), str)
            and isinstance(parts := data.get("parts"), list)
            and parts
        ):
            ordinary.append(at)
            at += 1
            continue
        if ordinary:
            yield ordinary
            ordinary = []
        size = 1
        while size < len(parts) and at + size < len(metas):
            member = metas[at + size]
            if not (
                isinstance(member, dict)
                and "message" not in member
                and "part" in member
                and member["part"] == parts[size]
            ):
                break
            size += 1
        yield _Verbatim(
            cast(str, data["message"]), cast(list[int | None], parts[size:]), at + size - 1
        )
        at += size
    if ordinary:
        yield ordinary


def _validate(texts: list[str]) -> list[ModelMessage]:
    if not texts:
        return []
    try:
        return ModelMessagesTypeAdapter.validate_json("[" + ",".join(texts) + "]")
    except ValidationError as exc:
        error = exc.errors()[0]
        where = error["loc"][0] if error["loc"] else "?"
        raise InvalidQueryError(
            f"stored pydantic-ai message {where} of this session cannot be read by this "
            f"pydantic-ai version ({error['msg']} at {'.'.join(map(str, error['loc']))}); "
            "install the pydantic-ai-slim version that wrote it, or newer"
        ) from exc


def _without(message: ModelMessage, dropped: list[int | None]) -> ModelMessage:
    """``message`` without the parts whose messages were removed (and without its
    instructions, when their message was)."""
    gone = set(dropped)
    changes: dict[str, Any] = {"parts": [p for i, p in enumerate(message.parts) if i not in gone]}
    if None in gone and isinstance(message, ModelRequest):
        changes["instructions"] = None
    return dataclasses.replace(message, **changes)


def _by_role(
    messages: list[tuple[int, ChatMessage]], tool_names: dict[str, str]
) -> Iterator[tuple[ModelMessage, int]]:
    """Ordinary messages (with their positions) as the pydantic-ai messages their roles imply,
    each with the position of the last message it was read from."""
    kind: Literal["request", "response"] | None = None
    request_parts: list[ModelRequestPart] = []
    response_parts: list[ModelResponsePart] = []
    first: ChatMessage | None = None
    last = -1
    for at, message in messages:
        this: Literal["request", "response"] = (
            "response" if message.role is Role.ASSISTANT else "request"
        )
        if kind is not None and this != kind and first is not None:
            yield _built(kind, first, request_parts, response_parts), last
            request_parts, response_parts, first = [], [], None
        kind, first, last = this, first or message, at
        if this == "response":
            response_parts.extend(_response_parts(message))
        else:
            request_parts.append(_request_part(message, tool_names))
    if kind is not None and first is not None:
        yield _built(kind, first, request_parts, response_parts), last


def _built(
    kind: str,
    first: ChatMessage,
    request_parts: list[ModelRequestPart],
    response_parts: list[ModelResponsePart],
) -> ModelMessage:
    if kind == "request":
        return ModelRequest(parts=request_parts, timestamp=first.timestamp)
    response = ModelResponse(parts=response_parts, provider_response_id=first.provider_response_id)
    if first.timestamp is not None:
        response.timestamp = first.timestamp
    return response


def _request_part(message: ChatMessage, tool_names: dict[str, str]) -> ModelRequestPart:
    times: dict[str, Any] = {"timestamp": message.timestamp} if message.timestamp else {}
    content = message.content or ""
    if message.role is Role.SYSTEM:
        return SystemPromptPart(content, **times)
    if message.role is Role.USER:
        return UserPromptPart(content, **times)
    call_id = message.tool_call_id or ""
    status = _OUTCOME_OF_STATUS.get(message.status or "", message.status)
    return ToolReturnPart(
        tool_name=message.name or tool_names.get(call_id, ""),
        content=content,
        tool_call_id=call_id,
        outcome=cast(Any, status if status in _OUTCOMES else "success"),
        **times,
    )


def _response_parts(message: ChatMessage) -> list[ModelResponsePart]:
    parts: list[ModelResponsePart] = []
    if message.reasoning:
        parts.append(ThinkingPart(message.reasoning))
    if message.content:
        parts.append(TextPart(message.content))
    for call in message.tool_calls or []:
        parts.append(ToolCallPart(call.name, dict(call.arguments), call.id))
    return parts
