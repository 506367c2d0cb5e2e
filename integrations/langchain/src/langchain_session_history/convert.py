"""Lossless conversion between LangChain messages and session-history's ``ChatMessage``.

Every field that has a ``ChatMessage`` field of its own goes there (role, content, name, id,
tool_calls, tool_call_id, status, reasoning), so the CLI, search and other integrations read
LangChain messages as ordinary messages. Everything else LangChain serialises (additional_kwargs,
response_metadata, usage_metadata, invalid_tool_calls, artifact, a chat message's custom role...)
is kept under ``metadata["langchain"]``, with the message type, when it differs from the class
default (an empty artifact is a value, not a default). Reading back merges the two, so
``messages_to_dict(loaded) == messages_to_dict(original)``.

Messages written through the core API (no ``metadata["langchain"]``) read back as the LangChain
message their role implies: user -> human, assistant -> ai (with its tool calls and reasoning),
system -> system, tool -> tool.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    BaseMessageChunk,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    message_chunk_to_message,
    message_to_dict,
    messages_from_dict,
)
from langchain_core.messages import ChatMessage as LangChainChatMessage

from session_history import ChatMessage, Role, ToolCall, Usage

__all__ = ["LANGCHAIN_KEY", "from_chat_message", "to_chat_message", "usage_of"]

LANGCHAIN_KEY = "langchain"
"""The ``ChatMessage.metadata`` key for LangChain fields that have no field of their own."""

_ROLE_OF_TYPE = {
    "human": Role.USER,
    "ai": Role.ASSISTANT,
    "system": Role.SYSTEM,
    "tool": Role.TOOL,
    "function": Role.TOOL,
}
_CLASS_OF_TYPE: dict[str, type[BaseMessage]] = {
    "human": HumanMessage,
    "ai": AIMessage,
    "system": SystemMessage,
    "tool": ToolMessage,
    "chat": LangChainChatMessage,
    "function": FunctionMessage,
}
_TYPE_OF_ROLE = {Role.USER: "human", Role.ASSISTANT: "ai", Role.SYSTEM: "system", Role.TOOL: "tool"}
_CHAT_ROLES = {
    "user": Role.USER,
    "human": Role.USER,
    "assistant": Role.ASSISTANT,
    "ai": Role.ASSISTANT,
    "system": Role.SYSTEM,
    "tool": Role.TOOL,
}


def to_chat_message(message: BaseMessage) -> ChatMessage:
    """A LangChain message as a ``ChatMessage``; chunks are stored as the complete message."""
    if isinstance(message, BaseMessageChunk):
        message = message_chunk_to_message(message)
    data: dict[str, Any] = message_to_dict(message)["data"]
    lc_type: str = data.pop("type")
    fields: dict[str, Any] = {
        "name": data.pop("name", None),
        "id": data.pop("id", None),
        "timestamp": datetime.now(UTC),
        "role": _role_of(lc_type, data),
        **_content_fields(data.pop("content")),
    }
    type_fields = _FIELDS_OF_TYPE.get(lc_type)
    if type_fields is not None:
        fields.update(type_fields(data))
    leftovers = _not_default(lc_type, data)
    if leftovers or _TYPE_OF_ROLE[fields["role"]] != lc_type:
        fields["metadata"] = {LANGCHAIN_KEY: {"type": lc_type, **leftovers}}
    # else: the role says it all, and the message is stored exactly as the core API would.
    return ChatMessage.model_validate(fields)


def _role_of(lc_type: str, data: dict[str, Any]) -> Role:
    """The core role of a LangChain message type; a chat message's own role when it maps."""
    if lc_type == "chat":
        role = str(data["role"])  # kept in the leftovers too: it may be a custom role
        return _CHAT_ROLES.get(role.lower(), Role.USER)
    return _ROLE_OF_TYPE.get(lc_type, Role.USER)


def _content_fields(content: str | list[Any]) -> dict[str, Any]:
    """``content`` (and ``raw_content_blocks``) for a LangChain message's content."""
    if isinstance(content, str):
        # LangChain has no "no content": an assistant message that only calls tools has "".
        # Stored as None, it does not count as a turn, as in the reference design.
        return {"content": content or None}
    return {"raw_content_blocks": content, "content": _text_of(content)}


def _ai_fields(data: dict[str, Any]) -> dict[str, Any]:
    """An AI message's tool calls, reasoning and response id, taken out of (or kept in) ``data``."""
    fields: dict[str, Any] = {"tool_calls": _tool_calls_of(data)}
    additional = data.get("additional_kwargs") or {}
    if isinstance(additional.get("reasoning_content"), str):
        fields["reasoning"] = additional["reasoning_content"]
        data["additional_kwargs"] = {
            k: v for k, v in additional.items() if k != "reasoning_content"
        }
    response_id = (data.get("response_metadata") or {}).get("id")
    if isinstance(response_id, str):
        fields["provider_response_id"] = response_id  # a copy, for readers of the core API
    return fields


def _tool_calls_of(data: dict[str, Any]) -> list[ToolCall] | None:
    """An AI message's tool calls, taken out of ``data`` unless an id needs keeping exactly."""
    calls: list[dict[str, Any]] = data.pop("tool_calls", None) or []
    if any(not call.get("id") for call in calls):
        data["tool_calls"] = calls  # ids that are None or "": keep the exact originals
    return [
        ToolCall(id=call.get("id") or "", name=call["name"], arguments=call.get("args") or {})
        for call in calls
    ] or None


def _tool_fields(data: dict[str, Any]) -> dict[str, Any]:
    """A tool message's call id and status, taken out of ``data``; its artifact made JSON."""
    if "artifact" in data:
        data["artifact"] = _json_safe(data["artifact"])
    return {"tool_call_id": data.pop("tool_call_id", None), "status": data.pop("status", None)}


_FIELDS_OF_TYPE: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ai": _ai_fields,
    "tool": _tool_fields,
}
"""The message types with ``ChatMessage`` fields of their own beyond role, content, name and id."""


def from_chat_message(message: ChatMessage) -> BaseMessage:
    """The LangChain message a ``ChatMessage`` stands for."""
    stored = message.metadata.get(LANGCHAIN_KEY)
    data: dict[str, Any] = dict(stored) if isinstance(stored, dict) else {}
    lc_type = str(data.pop("type", _TYPE_OF_ROLE[message.role]))
    data["content"] = (
        list(message.raw_content_blocks)
        if message.raw_content_blocks is not None
        else message.content or ""
    )
    # Only fields that differ from the class defaults are passed: each keyword costs pydantic
    # validation time, and loading a long session builds thousands of these.
    if message.name is not None:
        data["name"] = message.name
    if message.id is not None:
        data["id"] = message.id
    if lc_type == "ai":
        if "tool_calls" not in data and message.tool_calls:
            data["tool_calls"] = [
                {"name": c.name, "args": c.arguments, "id": c.id, "type": "tool_call"}
                for c in message.tool_calls
            ]
        if message.reasoning is not None:
            additional = dict(data.get("additional_kwargs") or {})
            additional["reasoning_content"] = message.reasoning
            data["additional_kwargs"] = additional
        if stored is None and message.provider_response_id:
            data["response_metadata"] = {"id": message.provider_response_id}
    elif lc_type == "tool":
        data["tool_call_id"] = message.tool_call_id or ""
        if message.status is not None:
            data["status"] = message.status
    elif lc_type == "chat":
        data.setdefault("role", message.role.value)
    cls = _CLASS_OF_TYPE.get(lc_type)
    if cls is None:  # a type this module does not know: let langchain-core resolve it
        (converted,) = messages_from_dict([{"type": lc_type, "data": data}])
        return converted
    return cls(**data)


def usage_of(messages: Iterable[BaseMessage]) -> Usage | None:
    """The summed ``usage_metadata`` of the AI messages, or None when none reports usage."""
    total: Usage | None = None
    for message in messages:
        usage = getattr(message, "usage_metadata", None) if isinstance(message, AIMessage) else None
        if usage:
            one = Usage.model_validate(dict(usage))
            total = one if total is None else total + one
    return total


@functools.cache
def _defaults_of(lc_type: str) -> dict[str, Any]:
    """The default of each optional field of the LangChain class for ``lc_type``."""
    cls = _CLASS_OF_TYPE.get(lc_type)
    if cls is None:
        return {}
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in cls.model_fields.items()
        if not field.is_required()
    }


def _not_default(lc_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``data`` that differ from their class default: only those need storing.

    An empty value is kept when it is not the default (a tool artifact of ``[]`` or ``{}``, whose
    default is ``None``): empty is a value. Fields of a type this module does not know are kept
    unless they are ``None``.
    """
    defaults = _defaults_of(lc_type)
    return {
        k: v
        for k, v in data.items()
        if v is not None
        and not (k in defaults and type(v) is type(defaults[k]) and v == defaults[k])
    }


def _text_of(blocks: Sequence[Any]) -> str | None:
    """The text of a list of content blocks, for readers that want plain text (CLI, search)."""
    parts = [
        block if isinstance(block, str) else str(block.get("text", ""))
        for block in blocks
        if isinstance(block, str) or (isinstance(block, dict) and block.get("type") == "text")
    ]
    return "".join(parts) or None


def _json_safe(value: Any) -> Any:
    """A tool artifact as JSON; one that is not JSON-serialisable is kept as its repr."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        warnings.warn(
            f"a ToolMessage artifact of type {type(value).__name__} is not JSON-serialisable; "
            "session-history stores its repr() instead",
            UserWarning,
            stacklevel=5,  # append_or_create (via _tool_fields, to_chat_message, a listcomp)
        )
        return {"__repr__": repr(value)}
