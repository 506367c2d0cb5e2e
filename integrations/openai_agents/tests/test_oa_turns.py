"""HistorySession's turns, item types and tool usage, as AdvancedSQLiteSession computes them."""

from __future__ import annotations

from typing import Any, cast

from agents import TResponseInputItem

from openai_agents_session_history import HistorySession
from session_history import SessionHistory


def items_of(*raw: dict[str, Any]) -> list[TResponseInputItem]:
    return cast(list[TResponseInputItem], list(raw))


async def test_conversation_turns_give_each_user_message_with_its_number(
    session: HistorySession,
) -> None:
    await session.add_items(
        items_of(
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": "Hi!"},
            {"role": "user", "content": "x" * 120},
        )
    )
    turns = await session.get_conversation_turns()
    assert [(t["turn"], t["content"], t["full_content"], t["can_branch"]) for t in turns] == [
        (1, "Hello there", "Hello there", True),
        (2, "x" * 100 + "...", "x" * 120, True),
    ]
    assert all(isinstance(t["timestamp"], str) for t in turns)


async def test_list_content_is_previewed_as_text_and_kept_whole(session: HistorySession) -> None:
    parts = [{"type": "input_text", "text": str(i)} for i in range(101)]
    await session.add_items(
        items_of(
            {"role": "user", "content": [{"type": "input_text", "text": "hello world"}]},
            {"role": "user", "content": parts},
        )
    )
    turns = await session.get_conversation_turns()
    assert (
        isinstance(turns[0]["content"], str)
        and turns[0]["full_content"][0]["text"] == "hello world"
    )
    assert turns[1]["content"].endswith("...") and turns[1]["full_content"] == parts
    found = await session.find_turns_by_content("HELLO")
    assert [t["turn"] for t in found] == [1]
    assert isinstance(found[0]["content"], str) and isinstance(found[0]["full_content"], list)


async def test_find_turns_by_content_matches_user_text_in_either_case(
    session: HistorySession,
) -> None:
    await session.add_items(
        items_of(
            {"role": "user", "content": "Tell me about cats"},
            {"role": "assistant", "content": "dogs and cats"},
            {"role": "user", "content": "What about dogs?"},
            {"role": "user", "content": "CATS again"},
        )
    )
    assert [t["turn"] for t in await session.find_turns_by_content("cats")] == [1, 3]
    assert [t["turn"] for t in await session.find_turns_by_content("dogs")] == [2]
    assert await session.find_turns_by_content("elephants") == []


async def test_conversation_by_turns_types_every_item(session: HistorySession) -> None:
    await session.add_items(
        items_of(
            {"type": "function_call_output", "call_id": "c0", "output": "before any user"},
            {"role": "user", "content": "What's 2+2?"},
            {"type": "function_call", "name": "calculator", "arguments": "{}", "call_id": "c1"},
            {"type": "function_call_output", "call_id": "c1", "output": "4"},
            {"role": "assistant", "content": "The answer is 4"},
            {"type": "reasoning", "summary": [{"text": "Simple math", "type": "summary_text"}]},
            {"role": "user", "content": "thanks"},
        )
    )
    by_turn = await session.get_conversation_by_turns()
    assert by_turn == {
        0: [{"type": "function_call_output", "tool_name": None}],
        1: [
            {"type": "user", "tool_name": None},
            {"type": "function_call", "tool_name": "calculator"},
            {"type": "function_call_output", "tool_name": None},
            {"type": "assistant", "tool_name": None},
            {"type": "reasoning", "tool_name": None},
        ],
        2: [{"type": "user", "tool_name": None}],
    }


async def test_tool_names_follow_the_sdks_rules(session: HistorySession) -> None:
    await session.add_items(
        items_of(
            {"role": "user", "content": "use tools"},
            {"type": "mcp_call", "server_label": "fs", "name": "read_file", "arguments": "{}"},
            {"type": "mcp_approval_request", "server_label": "db", "name": "q", "arguments": "{}"},
            {"type": "computer_call", "call_id": "c"},
            {"type": "web_search_call", "id": "w"},
            {"type": "function_call", "name": "lookup", "namespace": "crm", "arguments": "{}"},
            {"type": "function_call", "name": "lookup", "namespace": "lookup", "arguments": "{}"},
            {"type": "custom_tool_call", "name": "custom", "input": ""},
        )
    )
    names = [i["tool_name"] for i in (await session.get_conversation_by_turns())[1][1:]]
    assert names == [
        "fs.read_file",
        "db.q",
        "computer_call",
        "web_search_call",
        "crm.lookup",
        "lookup",
        "custom",
    ]


async def test_tool_usage_counts_calls_per_tool_and_turn(session: HistorySession) -> None:
    search_output = {"type": "tool_search_output", "id": "o", "status": "completed", "tools": []}
    await session.add_items(
        items_of(
            {"role": "user", "content": "search"},
            {"type": "function_call", "name": "web", "arguments": "{}", "call_id": "1"},
            {"type": "function_call_output", "call_id": "1", "output": "r"},
            {"type": "function_call", "name": "web", "arguments": "{}", "call_id": "2"},
            {"type": "tool_search_call", "id": "s", "arguments": {}, "status": "completed"},
            search_output,
            {"role": "user", "content": "again"},
            search_output,  # a search whose call was not returned still counts once
            {"type": "function_call", "name": "get", "namespace": "crm", "arguments": "{}"},
        )
    )
    assert await session.get_tool_usage() == [
        ("tool_search", 1, 1),
        ("web", 2, 1),
        ("crm.get", 1, 2),
        ("tool_search", 1, 2),
    ]


async def test_an_empty_session_has_no_turns_tools_or_usage(session: HistorySession) -> None:
    assert await session.get_items() == []
    assert await session.get_conversation_by_turns() == {}
    assert await session.get_conversation_turns() == []
    assert await session.get_tool_usage() == []
    assert await session.get_session_usage() is None
    assert await session.list_branches() == []


async def test_turns_of_another_branch_are_read_by_its_id(session: HistorySession) -> None:
    await session.add_items(
        items_of(
            {"role": "user", "content": "main question"},
            {"role": "assistant", "content": "answer"},
        )
    )
    await session.create_branch_from_turn(1, "side")
    await session.add_items(items_of({"role": "user", "content": "side question"}))
    assert [t["content"] for t in await session.get_conversation_turns("main")] == ["main question"]
    assert [t["content"] for t in await session.get_conversation_turns()] == ["side question"]
    assert [t["turn"] for t in await session.find_turns_by_content("question", "main")] == [1]


async def test_sessions_do_not_see_each_others_turns(session_history: SessionHistory) -> None:
    one, two = HistorySession("one", session_history), HistorySession("two", session_history)
    await one.add_items(items_of({"role": "user", "content": "1"}))
    await two.add_items(
        items_of({"role": "user", "content": "2"}, {"role": "user", "content": "3"})
    )
    assert len(await one.get_conversation_by_turns()) == 1
    assert len(await two.get_conversation_by_turns()) == 2
