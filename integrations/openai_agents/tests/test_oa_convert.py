"""The mapping between SDK items and ``ChatMessage``: every item kind comes back exactly, reads as
an ordinary message, and messages written outside the SDK read back as the items their roles
imply."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from agents import TResponseInputItem
from oa_samples import SAMPLES

import openai_agents_session_history as pkg
from openai_agents_session_history import (
    ITEM_KEY,
    RAW_ARGUMENTS_KEY,
    HistorySession,
    to_chat_message,
    to_items,
)
from session_history import (
    ChatMessage,
    InvalidQueryError,
    Role,
    Session,
    SessionHistory,
    ToolCall,
)

# kind -> (role, content, reasoning, tool calls as (id, name, arguments), tool_call_id)
EXPECTED: dict[str, tuple[Role, str | None, str | None, list[tuple[str, str, Any]], str | None]] = {
    "easy_user": (Role.USER, "Where is my order 8812?", None, [], None),
    "developer": (Role.SYSTEM, "Answer in one sentence.", None, [], None),
    "system": (Role.SYSTEM, "Be kind.", None, [], None),
    "user_parts": (Role.USER, "What is in this picture\nand this invoice?", None, [], None),
    "assistant_output": (Role.ASSISTANT, "It ships Tuesday, see the tracker.", None, [], None),
    "refusal": (Role.ASSISTANT, "I cannot share other customers' orders.", None, [], None),
    "function_call": (
        Role.ASSISTANT,
        None,
        None,
        [("call_1", "order_status", {"order_id": "8812", "verbose": True})],
        None,
    ),
    "function_call_bad_json": (
        Role.ASSISTANT,
        None,
        None,
        [("call_2", "order_status", {RAW_ARGUMENTS_KEY: '{"order_id": "88'})],
        None,
    ),
    "function_call_output": (
        Role.TOOL,
        '{"status": "shipped", "eta": "Tuesday"}',
        None,
        [],
        "call_1",
    ),
    "function_call_output_list": (Role.TOOL, "label printed", None, [], "call_3"),
    "reasoning": (Role.ASSISTANT, None, "The user wants the shipping date.", [], None),
    "file_search_call": (
        Role.ASSISTANT,
        None,
        None,
        [("fs_1", "file_search", {"queries": ["refund policy"]})],
        None,
    ),
    "web_search_call": (
        Role.ASSISTANT,
        None,
        None,
        [("ws_1", "web_search", {"action": {"type": "search", "query": "carrier strike news"}})],
        None,
    ),
    "computer_call": (
        Role.ASSISTANT,
        None,
        None,
        [
            (
                "call_cu_1",
                "computer",
                {"action": {"type": "click", "button": "left", "x": 120, "y": 48}},
            )
        ],
        None,
    ),
    "computer_call_output": (Role.TOOL, None, None, [], "call_cu_1"),
    "code_interpreter_call": (
        Role.ASSISTANT,
        None,
        None,
        [("ci_1", "code_interpreter", {"code": "print(2 ** 10)"})],
        None,
    ),
    "mcp_call": (
        Role.ASSISTANT,
        None,
        None,
        [("mcp_1", "lookup_customer", {"email": "ada@example.com"})],
        None,
    ),
    "mcp_approval_request": (
        Role.ASSISTANT,
        None,
        None,
        [("mcpr_1", "delete_customer", {"id": 7})],
        None,
    ),
    "mcp_approval_response": (Role.TOOL, "not without a ticket", None, [], "mcpr_1"),
    "image_generation_call": (Role.ASSISTANT, None, None, [("ig_1", "image_generation", {})], None),
    "shell_call": (
        Role.ASSISTANT,
        None,
        None,
        [("call_sh_1", "shell", {"action": {"commands": ["ls -la"], "timeout_ms": 1000}})],
        None,
    ),
    "shell_call_output": (Role.TOOL, "total 0", None, [], "call_sh_1"),
    "custom_tool_call": (
        Role.ASSISTANT,
        None,
        None,
        [("call_ct_1", "sql", {"input": "SELECT 1"})],
        None,
    ),
    "custom_tool_call_output": (Role.TOOL, "1 row", None, [], "call_ct_1"),
    "compaction": (Role.SYSTEM, None, None, [], None),
    "item_reference": (Role.SYSTEM, None, None, [], None),
}


def test_all_is_sorted_and_complete() -> None:
    # ruff's order (RUF022): constants, then classes, then functions, each alphabetical.
    def rank(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert pkg.__all__ == sorted(pkg.__all__, key=rank)
    assert set(pkg.__all__) == {
        "HistorySession",
        "ITEM_KEY",
        "RAW_ARGUMENTS_KEY",
        "to_chat_message",
        "to_items",
        "usage_of",
    }
    for name in pkg.__all__:
        assert getattr(pkg, name) is not None


def test_every_sample_kind_has_an_expected_mapping() -> None:
    assert set(EXPECTED) == set(SAMPLES)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_each_item_reads_as_an_ordinary_message(kind: str) -> None:
    item = SAMPLES[kind]
    message = to_chat_message(item)
    role, content, reasoning, calls, tool_call_id = EXPECTED[kind]
    assert message.role is role
    assert message.content == content
    assert message.reasoning == reasoning
    assert [(c.id, c.name, c.arguments) for c in message.tool_calls or []] == calls
    assert message.tool_call_id == tool_call_id
    assert message.metadata == {ITEM_KEY: item}
    assert to_items(message) == [item]


def test_id_and_status_go_to_their_fields() -> None:
    message = to_chat_message(SAMPLES["assistant_output"])
    assert (message.id, message.status) == ("msg_123", "completed")
    # An item reference's id names another item.
    assert to_chat_message(SAMPLES["item_reference"]).id is None


def test_the_stored_item_is_a_copy() -> None:
    item: dict[str, Any] = {"role": "user", "content": [{"type": "input_text", "text": "a"}]}
    message = to_chat_message(item)
    item["content"][0]["text"] = "changed"
    item["role"] = "assistant"
    assert to_items(message) == [{"role": "user", "content": [{"type": "input_text", "text": "a"}]}]


def test_arguments_that_are_json_but_not_an_object_are_kept_raw() -> None:
    for arguments in ("[1, 2]", "42", "null"):
        item = {"type": "function_call", "call_id": "c", "name": "f", "arguments": arguments}
        call = to_chat_message(item).tool_calls
        assert call is not None and call[0].arguments == {RAW_ARGUMENTS_KEY: arguments}
    empty = {"type": "function_call", "call_id": "c", "name": "f", "arguments": ""}
    assert to_chat_message(empty).tool_calls == [ToolCall(id="c", name="f", arguments={})]


def test_messages_written_outside_the_sdk_read_as_the_items_their_roles_imply() -> None:
    assistant = ChatMessage(
        role="assistant",
        content="Let me check.",
        reasoning="needs the tracker",
        tool_calls=[
            ToolCall(id="c1", name="track", arguments={"order": 8812}),
            ToolCall(id="c2", name="echo", arguments={RAW_ARGUMENTS_KEY: "{oops"}),
        ],
    )
    assert to_items(ChatMessage(role="user", content="hi")) == [{"role": "user", "content": "hi"}]
    assert to_items(ChatMessage(role="system", content="rules")) == [
        {"role": "system", "content": "rules"}
    ]
    assert to_items(assistant) == [
        {"role": "assistant", "content": "Let me check."},
        {"type": "function_call", "call_id": "c1", "name": "track", "arguments": '{"order": 8812}'},
        {"type": "function_call", "call_id": "c2", "name": "echo", "arguments": "{oops"},
    ]
    assert to_items(ChatMessage(role="tool", tool_call_id="c1", content="shipped")) == [
        {"type": "function_call_output", "call_id": "c1", "output": "shipped"}
    ]
    # Reasoning of another provider is no reasoning item the Responses API would take.
    assert to_items(ChatMessage(role="assistant", reasoning="hmm")) == []


async def test_core_messages_read_back_through_the_session(session_history: SessionHistory) -> None:
    await session_history.create_session(
        Session(
            session_id="core",
            agent_name="other",
            model="m",
            messages=[
                ChatMessage(role="user", content="Umbrella in Lisbon?"),
                ChatMessage(
                    role="assistant",
                    content="Checking.",
                    tool_calls=[ToolCall(id="c1", name="forecast", arguments={"city": "Lisbon"})],
                ),
                ChatMessage(role="tool", tool_call_id="c1", content='{"rain": 0.7}'),
                ChatMessage(role="assistant", reasoning="rain is likely"),
                ChatMessage(role="assistant", content="Yes, take one."),
            ],
        )
    )
    session = HistorySession("core", session_history)
    expected = [
        {"role": "user", "content": "Umbrella in Lisbon?"},
        {"role": "assistant", "content": "Checking."},
        {
            "type": "function_call",
            "call_id": "c1",
            "name": "forecast",
            "arguments": json.dumps({"city": "Lisbon"}),
        },
        {"type": "function_call_output", "call_id": "c1", "output": '{"rain": 0.7}'},
        {"role": "assistant", "content": "Yes, take one."},
    ]
    assert await session.get_items() == expected
    # A message standing for several items, or none, still gives exactly the last N items.
    for n in range(1, 7):
        assert await session.get_items(limit=n) == expected[-n:]

    # Popping the two-item message returns its last item and keeps the other.
    assert await session.pop_item() == expected[4]
    assert await session.pop_item() == expected[3]  # the reasoning-only message went too
    assert await session.pop_item() == expected[2]
    assert await session.get_items() == expected[:2]
    loaded = await session_history.load_session("core")
    assert loaded is not None
    assert [m.metadata.get(ITEM_KEY) for m in loaded.messages] == [None, expected[1]]


def test_items_with_values_that_are_not_json_are_refused() -> None:
    with pytest.raises(InvalidQueryError, match="a message item cannot be stored"):
        to_chat_message(cast(dict[str, Any], {"role": "user", "content": {1, 2}}))
    with pytest.raises(InvalidQueryError, match="must be a dict"):
        to_chat_message(cast(TResponseInputItem, ["role", "user"]))
