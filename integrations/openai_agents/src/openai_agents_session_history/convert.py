"""Lossless conversion between the OpenAI Agents SDK's items and session-history's ``ChatMessage``.

An SDK item (a ``TResponseInputItem``, a JSON dict) is stored as one ``ChatMessage``. The item is
kept verbatim under ``metadata["openai_agents"]``, and that is what :func:`to_items` gives back,
so ``get_items`` returns exactly what ``add_items`` was given. The ordinary fields are filled too,
so the CLI (``show``, ``search``), export, summaries and other integrations read the items as
ordinary messages:

=====================================  ===========================================================
SDK item                               ``ChatMessage``
=====================================  ===========================================================
message, role ``user``                 user; content = the text of its parts
message, role ``system``/``developer`` system; content = the text of its parts
message, role ``assistant``            assistant; content = its ``output_text`` and refusal text
``function_call``                      assistant; a ``ToolCall(call_id, name, arguments)``, the
                                       arguments parsed when they are a JSON object, else
                                       ``{"__raw__": "<the string>"}``
``function_call_output``               tool; ``tool_call_id`` = call_id; content = the output text
``reasoning``                          assistant; reasoning = the summary text (no content)
hosted-tool calls (file search, web    assistant; a ``ToolCall(call id, tool, its input)``
search, computer, code interpreter,
MCP, shell, apply patch, custom...)
their outputs                          tool; ``tool_call_id``; content = the output text
anything else (``compaction``,         system, with no text
``item_reference``...)
=====================================  ===========================================================

``id`` and ``status`` go to the fields of those names. Messages with no stored item (written
through the core API or another integration) read back as the items their roles imply: user and
system messages as messages of that role, an assistant message as an assistant message (its
text) followed by one ``function_call`` per tool call, a tool message as a
``function_call_output``. Their reasoning is not turned into a ``reasoning`` item: the Responses
API accepts only reasoning items it issued itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from agents import TResponseInputItem
from agents import Usage as AgentsUsage
from pydantic import JsonValue, ValidationError

from session_history import ChatMessage, InvalidQueryError, Role, ToolCall, Usage

__all__ = [
    "ITEM_KEY",
    "RAW_ARGUMENTS_KEY",
    "to_chat_message",
    "to_items",
    "usage_of",
]

ITEM_KEY = "openai_agents"
"""The ``ChatMessage.metadata`` key holding the SDK item verbatim."""

RAW_ARGUMENTS_KEY = "__raw__"
"""The ``ToolCall.arguments`` key for call arguments that are not a JSON object."""

_MESSAGE_ROLES = {
    "user": Role.USER,
    "system": Role.SYSTEM,
    "developer": Role.SYSTEM,
    "assistant": Role.ASSISTANT,
}

# Calls the model made to a tool OpenAI (or the SDK) runs: item type -> (the tool's name, or
# None for the item's own "name"; the fields that are the call's input). Results, images and
# logs stay in the item only: a base64 image is no argument to search or show.
_HOSTED_CALLS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "file_search_call": ("file_search", ("queries",)),
    "web_search_call": ("web_search", ("action",)),
    "computer_call": ("computer", ("action", "actions")),
    "code_interpreter_call": ("code_interpreter", ("code",)),
    "image_generation_call": ("image_generation", ()),
    "local_shell_call": ("local_shell", ("action",)),
    "shell_call": ("shell", ("action",)),
    "apply_patch_call": ("apply_patch", ("operation",)),
    "tool_search_call": ("tool_search", ("arguments",)),
    "custom_tool_call": (None, ("input",)),
    "mcp_list_tools": ("mcp_list_tools", ("server_label",)),
    "program": ("program", ("code",)),
}
# Calls whose "arguments" is a JSON string, as a function call's.
_JSON_ARGUMENT_CALLS = {"function_call", "mcp_call", "mcp_approval_request"}
# Results sent back for a call: item type -> (the field naming the call, the field with output).
_OUTPUTS: dict[str, tuple[str, str]] = {
    "function_call_output": ("call_id", "output"),
    "computer_call_output": ("call_id", "output"),
    "local_shell_call_output": ("id", "output"),
    "shell_call_output": ("call_id", "output"),
    "apply_patch_call_output": ("call_id", "output"),
    "custom_tool_call_output": ("call_id", "output"),
    "tool_search_output": ("call_id", "tools"),
    "mcp_approval_response": ("approval_request_id", "reason"),
    "program_output": ("call_id", "result"),
}


def to_chat_message(item: Mapping[str, Any]) -> ChatMessage:
    """An SDK item as a ``ChatMessage`` that keeps the item verbatim.

    Raises:
        InvalidQueryError: the item is not a dict, or holds values that are not JSON.
    """
    if not isinstance(item, Mapping):
        raise InvalidQueryError(
            f"an item must be a dict (a TResponseInputItem), not {type(item).__name__}"
        )
    kind = _kind(item)
    fields: dict[str, Any] = {
        # An item reference's id names another item, not this one.
        "id": _str(item.get("id")) if kind != "item_reference" else None,
        "status": _str(item.get("status")),
        "timestamp": datetime.now(UTC),
        "metadata": {ITEM_KEY: item},
    }
    if kind == "message":
        fields["role"] = _MESSAGE_ROLES.get(str(item.get("role")), Role.USER)
        fields["content"] = text_of(item.get("content"))
    elif kind == "reasoning":
        fields["role"] = Role.ASSISTANT
        fields["reasoning"] = text_of(item.get("summary")) or text_of(item.get("content"))
    elif kind in _JSON_ARGUMENT_CALLS or kind in _HOSTED_CALLS:
        fields["role"] = Role.ASSISTANT
        fields["tool_calls"] = [_tool_call(kind, item)]
    elif kind in _OUTPUTS:
        id_field, output_field = _OUTPUTS[kind]
        fields["role"] = Role.TOOL
        fields["tool_call_id"] = _str(item.get(id_field))
        fields["content"] = text_of(item.get(output_field))
    else:
        fields["role"] = Role.SYSTEM
    try:
        return ChatMessage.model_validate(fields)
    except ValidationError as exc:
        raise InvalidQueryError(
            f"a {kind} item cannot be stored: it must hold only JSON values (str, int, float, "
            f"bool, None, list, dict with str keys) ({exc.errors()[0]['msg']})"
        ) from None


def to_items(message: ChatMessage) -> list[TResponseInputItem]:
    """The SDK items a ``ChatMessage`` stands for: the stored item, else those its role implies.

    A message stored by :func:`to_chat_message` gives exactly its item. Another gives one item,
    except an assistant message, which gives its text (if any) then one ``function_call`` per
    tool call: possibly none, for one holding only reasoning.
    """
    stored = message.metadata.get(ITEM_KEY)
    if isinstance(stored, dict):
        return [cast(TResponseInputItem, stored)]
    items: list[dict[str, Any]]
    if message.role is Role.USER or message.role is Role.SYSTEM:
        items = [{"role": message.role.value, "content": message.content or ""}]
    elif message.role is Role.TOOL:
        items = [
            {
                "type": "function_call_output",
                "call_id": message.tool_call_id or "",
                "output": message.content or "",
            }
        ]
    else:
        items = [{"role": "assistant", "content": message.content}] if message.content else []
        items += [
            {
                "type": "function_call",
                "call_id": call.id,
                "name": call.name,
                "arguments": _arguments_text(call.arguments),
            }
            for call in message.tool_calls or []
        ]
    return cast(list[TResponseInputItem], items)


def usage_of(usage: AgentsUsage) -> Usage:
    """The SDK's usage of a run as session-history's ``Usage`` (requests and token details kept
    as extra fields, which add up like the standard ones). Details a provider left unset
    (None, past the SDK's validation) are left out."""
    fields: dict[str, object] = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "requests": usage.requests,
    }
    for name in ("input_tokens_details", "output_tokens_details"):
        details = getattr(usage, name, None)
        if details is not None:
            fields[name] = details.model_dump()
    return Usage.model_validate(fields)


def text_of(value: object) -> str | None:
    """The readable text of a content value: a string, or a list of parts (the text of text,
    summary and reasoning parts, refusals, and a shell's stdout and stderr), one per line."""
    if isinstance(value, str):
        return value or None
    if not isinstance(value, list):
        return None
    texts: list[str] = []
    for part in value:
        if not isinstance(part, dict):
            continue
        for key in ("text", "refusal", "stdout", "stderr"):
            text = part.get(key)
            if isinstance(text, str) and text:
                texts.append(text)
    return "\n".join(texts) or None


def _kind(item: Mapping[str, Any]) -> str:
    kind = item.get("type")
    if isinstance(kind, str):
        return kind
    # The SDK's easy messages have a role and no type; an item reference may have only an id.
    return "message" if "role" in item else "item_reference"


def _tool_call(kind: str, item: Mapping[str, Any]) -> ToolCall:
    call_id = _str(item.get("call_id")) or _str(item.get("id")) or ""
    if kind in _JSON_ARGUMENT_CALLS:
        name = _str(item.get("name")) or kind
        return ToolCall(id=call_id, name=name, arguments=_parse_arguments(item.get("arguments")))
    tool, inputs = _HOSTED_CALLS[kind]
    name = (_str(item.get("name")) if tool is None else tool) or kind
    arguments = {field: item[field] for field in inputs if item.get(field) is not None}
    return ToolCall(id=call_id, name=name, arguments=arguments)


def _parse_arguments(arguments: object) -> dict[str, JsonValue]:
    """Call arguments as a dict: parsed when a JSON object, else the text under ``__raw__``
    (the model may write arguments that are not JSON; they stay findable and shown)."""
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    return {RAW_ARGUMENTS_KEY: cast(JsonValue, arguments)}


def _arguments_text(arguments: dict[str, JsonValue]) -> str:
    raw = arguments.get(RAW_ARGUMENTS_KEY)
    if len(arguments) == 1 and isinstance(raw, str):
        return raw
    return json.dumps(arguments, ensure_ascii=False)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
