"""What ``AdvancedSQLiteSession`` reads off a branch's items: turns, message types, tool names.

The SDK writes these as rows beside each item (``message_structure``); here they are computed from
the items of the branch's path, as the SDK would have written them, so that the same items give
the same answers whichever session stored them:

* a **turn** is a user message (``role == "user"``) and the items after it, up to the next one;
  turns are numbered from 1 along the branch, items before the first user message are turn 0;
* an item's **type** is ``"user"`` / ``"assistant"`` by role, else its ``type``, else
  ``"other"``;
* a tool call's **name** is the SDK's: ``server_label.name`` for MCP, the item type for hosted
  tools, ``namespace.name`` for namespaced functions (the SDK's own rule for reserved
  namespaces, ``agents._tool_identity``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from agents import TResponseInputItem
from agents._tool_identity import is_reserved_synthetic_tool_namespace, tool_qualified_name

__all__ = [
    "content_preview",
    "conversation_by_turns",
    "is_user",
    "matching_turns",
    "message_type",
    "numbered",
    "tool_name",
    "tool_usage",
    "turn_count",
    "turn_records",
]

# The item types AdvancedSQLiteSession counts as tool use (get_tool_usage).
_TOOL_CALLS = frozenset(
    {
        "tool_call",
        "function_call",
        "computer_call",
        "file_search_call",
        "web_search_call",
        "code_interpreter_call",
        "tool_search_call",
        "custom_tool_call",
        "mcp_call",
        "mcp_approval_request",
    }
)
# Hosted tools whose items carry no name: the type names the tool.
_NAMELESS = frozenset(
    {
        "computer_call",
        "file_search_call",
        "web_search_call",
        "code_interpreter_call",
        "shell_call",
        "apply_patch_call",
    }
)


def is_user(item: object) -> bool:
    """Whether ``item`` starts a turn."""
    return isinstance(item, dict) and item.get("role") == "user"


def message_type(item: object) -> str:
    if isinstance(item, dict):
        if item.get("role") in ("user", "assistant"):
            return str(item["role"])
        if item.get("type"):
            return str(item["type"])
    return "other"


def tool_name(item: object) -> str | None:
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    if kind in ("mcp_call", "mcp_approval_request") and "server_label" in item:
        label, name = item.get("server_label"), item.get("name")
        if name and label:
            return f"{label}.{name}"
        return str(label) if label else (str(name) if name else None)
    if kind in ("tool_search_call", "tool_search_output"):
        return "tool_search"
    if kind in _NAMELESS:
        return str(kind)
    if "name" in item:
        name, namespace = item.get("name"), item.get("namespace")
        if name is None:
            return None
        space = str(namespace) if namespace is not None else None
        if is_reserved_synthetic_tool_namespace(str(name), space):
            return str(name)
        return tool_qualified_name(str(name), space) or str(name)
    return None


def numbered(items: Sequence[object]) -> Iterator[tuple[int, object]]:
    """Each item with its turn number."""
    turn = 0
    for item in items:
        if is_user(item):
            turn += 1
        yield turn, item


def turn_count(items: Sequence[object]) -> int:
    return sum(1 for item in items if is_user(item))


def content_preview(content: object, max_length: int | None = None) -> str:
    """A user message's content as text (a list of parts as JSON), cut to ``max_length``."""
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    if max_length is not None and len(text) > max_length:
        return text[:max_length] + "..."
    return text


def turn_records(
    items: Sequence[TResponseInputItem], timestamps: Sequence[str | None]
) -> list[dict[str, Any]]:
    """``get_conversation_turns``' records: one per user message."""
    return [
        _record(turn, item, stamp, 100)
        for (turn, item), stamp in zip(numbered(items), timestamps, strict=True)
        if is_user(item)
    ]


def matching_turns(
    items: Sequence[TResponseInputItem], timestamps: Sequence[str | None], term: str
) -> list[dict[str, Any]]:
    """``find_turns_by_content``' records: the user messages whose text holds ``term``, matched
    as SQLite's ``LIKE`` matches (ASCII letters in either case); the preview is not cut."""
    pattern = re.compile(re.escape(term), re.IGNORECASE | re.ASCII)
    found = []
    for (turn, item), stamp in zip(numbered(items), timestamps, strict=True):
        if not is_user(item):
            continue
        content = item.get("content", "") if isinstance(item, dict) else ""
        if isinstance(content, str):
            texts = [content]
        elif isinstance(content, list):
            texts = [part.get("text", "") for part in content if isinstance(part, dict)]
        else:
            continue
        if any(isinstance(text, str) and pattern.search(text) for text in texts):
            found.append(_record(turn, item, stamp, None))
    return found


def _record(turn: int, item: object, stamp: str | None, cut: int | None) -> dict[str, Any]:
    content = item.get("content", "") if isinstance(item, dict) else ""
    return {
        "turn": turn,
        "content": content_preview(content, cut),
        "full_content": content,
        "timestamp": stamp,
        "can_branch": True,
    }


def conversation_by_turns(items: Sequence[object]) -> dict[int, list[dict[str, str | None]]]:
    turns: dict[int, list[dict[str, str | None]]] = {}
    for turn, item in numbered(items):
        turns.setdefault(turn, []).append(
            {"type": message_type(item), "tool_name": tool_name(item)}
        )
    return turns


def tool_usage(items: Sequence[object]) -> list[tuple[str, int, int]]:
    """``(tool name, uses, turn)`` per tool and turn, by turn: tool calls of the types the SDK
    counts, and a ``tool_search_output`` with no ``tool_search_call`` in its turn (the search
    ran server-side; its call was not returned)."""
    counts: dict[tuple[int, str | None], int] = {}
    searched: set[tuple[int, str | None]] = set()
    outputs: list[tuple[int, str | None]] = []
    for turn, item in numbered(items):
        kind = message_type(item)
        key = (turn, tool_name(item))
        if kind in _TOOL_CALLS:
            counts[key] = counts.get(key, 0) + 1
            if kind == "tool_search_call":
                searched.add(key)
        elif kind == "tool_search_output":
            outputs.append(key)
    for key in outputs:
        if key not in searched:
            counts[key] = counts.get(key, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
    return [(name, uses, turn) for (turn, name), uses in ordered]  # type: ignore[misc]
