"""SessionChatMessageHistory: lossless, both doors, hooks, concurrency, and chains."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core._api.deprecation import LangChainDeprecationWarning
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    messages_to_dict,
)
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory
from lc_samples import every_message

from langchain_session_history import SessionChatMessageHistory
from session_history import (
    ChatMessage,
    HistoryConfig,
    Role,
    Session,
    SessionHistory,
    SyncSessionHistory,
    ToolCall,
    Usage,
    hookimpl,
)


async def test_every_message_type_round_trips_losslessly(session_history: SessionHistory) -> None:
    chat = SessionChatMessageHistory("any string, even this one", session_history)
    original = every_message()
    await chat.aadd_messages(original)
    assert messages_to_dict(await chat.aget_messages()) == messages_to_dict(original)


def test_round_trip_read_back_by_another_process(session_history_config: HistoryConfig) -> None:
    original = every_message()
    with SyncSessionHistory(session_history_config) as store:
        SessionChatMessageHistory("s", store).add_messages(original)
    script = (
        "import json, sys\n"
        "from langchain_core.messages import messages_to_dict\n"
        "from langchain_session_history import SessionChatMessageHistory\n"
        "with SessionChatMessageHistory.from_path('s', sys.argv[1]) as h:\n"
        "    print(json.dumps(messages_to_dict(h.messages)))\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            session_history_config.url or str(session_history_config.db_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(json.dumps(messages_to_dict(original)))


async def test_chunks_are_stored_as_complete_messages(session_history: SessionHistory) -> None:
    chat = SessionChatMessageHistory("s", session_history)
    chunk = AIMessageChunk("Hel", id="c1") + AIMessageChunk(
        "lo", usage_metadata={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    )
    await chat.aadd_messages([chunk])
    (loaded,) = await chat.aget_messages()
    assert type(loaded) is AIMessage
    assert loaded.content == "Hello"
    assert loaded.usage_metadata == {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}


async def test_fields_land_on_chat_message_fields_and_usage_on_the_session(
    session_history: SessionHistory,
) -> None:
    chat = SessionChatMessageHistory("s", session_history, agent_name="weather-bot", model="gpt-5")
    await chat.aadd_messages(every_message())
    session = await session_history.load_session("s")
    assert session is not None
    assert (session.agent_name, session.model) == ("weather-bot", "gpt-5")
    system, human, ai, tool, failed, blocks, critic, as_user, function, _, last = session.messages
    assert (system.role, system.content, system.name, system.id) == (
        Role.SYSTEM,
        "You are terse.",
        "rules",
        "sys-1",
    )
    assert (human.role, human.content) == (Role.USER, "Weather in Zürich? 天気")
    assert ai.role is Role.ASSISTANT and ai.content is None  # only tool calls: not a turn
    assert ai.tool_calls == [
        ToolCall(id="call-1", name="weather", arguments={"city": "Zürich"}),
        ToolCall(id="", name="clock", arguments={}),
    ]
    assert ai.reasoning == "Need the weather tool."
    assert ai.provider_response_id == "resp-9"
    assert (tool.role, tool.tool_call_id, tool.status, tool.name) == (
        Role.TOOL,
        "call-1",
        "success",
        "weather",
    )
    assert failed.status == "error"
    assert blocks.content == "It is 18 °C." and blocks.raw_content_blocks is not None
    assert critic.role is Role.USER and as_user.role is Role.USER
    assert function.role is Role.TOOL and function.name == "legacy_fn"
    assert last.content == "Ünïcødé: ✓ — 🌦️"
    assert session.usage == Usage(
        input_tokens=42,
        output_tokens=12,
        total_tokens=54,
        input_token_details={"cache_read": 4},
        output_token_details={"reasoning": 3},
    )
    summary = await session_history.get_summary("s")
    assert summary is not None
    assert (summary.turn_count, summary.tool_call_count) == (2, 2)


async def test_core_api_messages_read_as_sensible_langchain_messages(
    session_history: SessionHistory,
) -> None:
    await session_history.create_session(
        Session(
            session_id="core",
            agent_name="a",
            model="m",
            messages=[
                ChatMessage(role="system", content="sys"),
                ChatMessage(role="user", content="hi", name="ana"),
                ChatMessage(
                    role="assistant",
                    reasoning="think",
                    tool_calls=[ToolCall(id="c1", name="f", arguments={"x": 1})],
                    provider_response_id="resp-1",
                ),
                ChatMessage(role="tool", tool_call_id="c1", content="done", status="success"),
                ChatMessage(role="assistant", content="bye"),
            ],
        )
    )
    messages = await SessionChatMessageHistory("core", session_history).aget_messages()
    assert [type(m) for m in messages] == [
        SystemMessage,
        HumanMessage,
        AIMessage,
        ToolMessage,
        AIMessage,
    ]
    ai = messages[2]
    assert isinstance(ai, AIMessage)
    assert ai.content == ""
    assert ai.tool_calls == [{"name": "f", "args": {"x": 1}, "id": "c1", "type": "tool_call"}]
    assert ai.additional_kwargs == {"reasoning_content": "think"}
    assert ai.response_metadata == {"id": "resp-1"}
    tool = messages[3]
    assert isinstance(tool, ToolMessage) and tool.tool_call_id == "c1" and tool.content == "done"
    assert messages[1].name == "ana" and messages[4].content == "bye"


async def test_session_is_created_on_first_write_and_clear_deletes_it(
    session_history: SessionHistory,
) -> None:
    chat = SessionChatMessageHistory("new", session_history)
    assert await chat.aget_messages() == []
    assert await session_history.session_count() == 0
    await chat.aadd_messages([HumanMessage("one")])
    await chat.aadd_messages([AIMessage("two")])
    assert [m.content for m in await chat.aget_messages()] == ["one", "two"]
    await chat.aclear()
    assert await chat.aget_messages() == []
    assert await session_history.load_session("new") is None
    await chat.aadd_messages([HumanMessage("again")])
    assert [m.content for m in await chat.aget_messages()] == ["again"]


def test_sync_door_in_a_plain_script(session_history_config: HistoryConfig) -> None:
    with SessionChatMessageHistory.from_path(
        "s", session_history_config.url or session_history_config.db_path
    ) as chat:
        chat.add_user_message("hello")
        chat.add_ai_message("hi there")
        assert [m.content for m in chat.messages] == ["hello", "hi there"]
        chat.clear()
        assert chat.messages == []


async def test_sync_door_inside_a_running_event_loop(session_history: SessionHistory) -> None:
    chat = SessionChatMessageHistory("s", session_history)
    # Sync calls made by async code (langchain#23716): no deadlock, no "different loop".
    chat.add_messages([HumanMessage("from sync, inside a loop")])
    await chat.aadd_messages([AIMessage("from async")])
    assert [m.content for m in chat.messages] == ["from sync, inside a loop", "from async"]
    chat.clear()
    assert await chat.aget_messages() == []


async def test_hooks_fire_for_adapter_writes(session_history_config: HistoryConfig) -> None:
    seen: list[tuple[str, int]] = []

    class Spy:
        @hookimpl
        def session_history_saved(self, operation: str, new_messages: list[ChatMessage]) -> None:
            seen.append((operation, len(new_messages)))

        @hookimpl
        def session_history_deleted(self, session_id: str) -> None:
            seen.append(("deleted", 0))

    async with SessionHistory(session_history_config, plugins=[Spy()]) as store:
        chat = SessionChatMessageHistory("s", store)
        await chat.aadd_messages([HumanMessage("a"), AIMessage("b")])
        chat.add_messages([HumanMessage("c")])
        await chat.aclear()
    assert seen == [("create", 2), ("append", 1), ("deleted", 0)]


async def test_eight_adapters_writing_one_session_lose_nothing(
    session_history: SessionHistory,
) -> None:
    async def writer(w: int) -> None:
        chat = SessionChatMessageHistory("shared", session_history)  # its own instance
        for i in range(25):
            await chat.aadd_messages([HumanMessage(f"{w}:{i}:q"), AIMessage(f"{w}:{i}:a")])

    await asyncio.gather(*(writer(w) for w in range(8)))
    contents = [
        str(m.content)
        for m in await SessionChatMessageHistory("shared", session_history).aget_messages()
    ]
    assert len(contents) == 8 * 25 * 2
    for k in range(0, len(contents), 2):  # each call's pair stays together
        assert contents[k].removesuffix(":q") == contents[k + 1].removesuffix(":a")
    for w in range(8):
        mine = [c for c in contents if c.startswith(f"{w}:") and c.endswith(":q")]
        assert mine == [f"{w}:{i}:q" for i in range(25)]


async def test_non_json_artifacts_are_kept_as_repr_with_a_warning(
    session_history: SessionHistory,
) -> None:
    chat = SessionChatMessageHistory("s", session_history)
    with pytest.warns(UserWarning, match="not JSON-serialisable"):
        await chat.aadd_messages([ToolMessage("x", tool_call_id="c", artifact={1, 2})])
    (loaded,) = await chat.aget_messages()
    assert isinstance(loaded, ToolMessage) and loaded.artifact == {"__repr__": "{1, 2}"}


@pytest.mark.parametrize("artifact", [[], {}, "", 0, False, [{}], {"a": []}])
async def test_empty_and_falsy_artifacts_come_back_as_they_were(
    session_history: SessionHistory, artifact: object
) -> None:
    """An empty artifact is a value, not a missing one (issue 10, point 16)."""
    chat = SessionChatMessageHistory("s", session_history)
    original = ToolMessage("x", tool_call_id="c", artifact=artifact)
    await chat.aadd_messages([original])
    (loaded,) = await chat.aget_messages()
    assert isinstance(loaded, ToolMessage)
    assert loaded.artifact == artifact and type(loaded.artifact) is type(artifact)
    assert messages_to_dict([loaded]) == messages_to_dict([original])


# -- RunnableWithMessageHistory ---------------------------------------------------------------


def _chain(session_history: SessionHistory, replies: list[str]) -> Any:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Be brief."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    model = GenericFakeChatModel(messages=iter([AIMessage(r) for r in replies]))
    # Deprecated in langchain-core 1.x in favour of LangGraph persistence; still how chains keep
    # history. We expect the warning rather than silence it.
    with pytest.warns(LangChainDeprecationWarning, match="RunnableWithMessageHistory"):
        return RunnableWithMessageHistory(
            prompt | model,
            lambda session_id: SessionChatMessageHistory(session_id, session_history),
            input_messages_key="question",
            history_messages_key="history",
        )


def test_runnable_with_message_history_sync(session_history_config: HistoryConfig) -> None:
    with SyncSessionHistory(session_history_config) as store:
        chain = _chain(store.history, ["Hi Ana.", "You are Ana."])
        config = {"configurable": {"session_id": "chat-1"}}
        assert chain.invoke({"question": "I am Ana."}, config=config).content == "Hi Ana."
        assert chain.invoke({"question": "Who am I?"}, config=config).content == "You are Ana."
        stored = SessionChatMessageHistory("chat-1", store).messages
    assert [(m.type, m.content) for m in stored] == [
        ("human", "I am Ana."),
        ("ai", "Hi Ana."),
        ("human", "Who am I?"),
        ("ai", "You are Ana."),
    ]


async def test_runnable_with_message_history_async(session_history: SessionHistory) -> None:
    chain = _chain(session_history, ["One.", "Two.", "Three."])
    config = {"configurable": {"session_id": "chat-2"}}
    for question in ("a", "b", "c"):
        await chain.ainvoke({"question": question}, config=config)
    stored = await SessionChatMessageHistory("chat-2", session_history).aget_messages()
    assert [m.content for m in stored] == ["a", "One.", "b", "Two.", "c", "Three."]
    summary = await session_history.get_summary("chat-2")
    assert summary is not None and summary.turn_count == 3


def test_the_package_exports() -> None:
    import langchain_session_history as pkg

    assert pkg.__all__ == [
        "LANGCHAIN_KEY",
        "SessionChatMessageHistory",
        "SessionCheckpointer",
        "SessionHistoryMiddleware",
        "close_shared_stores",
        "from_chat_message",
        "to_chat_message",
    ]
    for name in pkg.__all__:
        assert getattr(pkg, name) is not None
    assert Path(pkg.__file__).parent.joinpath("py.typed").exists()
