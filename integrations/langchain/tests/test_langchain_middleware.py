"""SessionHistoryMiddleware records LangChain 1.x agent runs, sync and async."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import BaseTool
from langgraph.checkpoint.memory import InMemorySaver
from lc_samples import ToolCallingFake, add

from langchain_session_history import SessionChatMessageHistory, SessionHistoryMiddleware
from session_history import HistoryConfig, Role, SessionHistory, SyncSessionHistory, hookimpl


def fake_model(*replies: AIMessage) -> ToolCallingFake:
    return ToolCallingFake(messages=iter(replies))


def a_run() -> list[AIMessage]:
    return [
        AIMessage(
            "",
            tool_calls=[
                {"name": "add", "args": {"a": 2, "b": 3}, "id": "call-1", "type": "tool_call"}
            ],
            usage_metadata={"input_tokens": 10, "output_tokens": 4, "total_tokens": 14},
            response_metadata={"model_name": "fake-gpt"},
        ),
        AIMessage(
            "2 + 3 = 5",
            usage_metadata={"input_tokens": 20, "output_tokens": 6, "total_tokens": 26},
        ),
    ]


def tools() -> list[BaseTool]:
    return [add]


def test_a_sync_agent_run_is_recorded_with_tool_calls_and_results(
    session_history_config: HistoryConfig,
) -> None:
    with SyncSessionHistory(session_history_config) as store:
        agent = create_agent(
            model=fake_model(*a_run()),
            tools=tools(),
            middleware=[SessionHistoryMiddleware(store, agent_name="calculator")],
        )
        result = agent.invoke(
            {"messages": [HumanMessage("What is 2 + 3?")]},
            config={"configurable": {"session_id": "run-1"}},
        )
        assert result["messages"][-1].content == "2 + 3 = 5"
        session = store.load_session("run-1")
    assert session is not None
    assert (session.agent_name, session.model) == ("calculator", "fake-gpt")
    assert [m.role for m in session.messages] == [
        Role.USER,
        Role.ASSISTANT,
        Role.TOOL,
        Role.ASSISTANT,
    ]
    call = session.messages[1].tool_calls
    assert call is not None and (call[0].name, call[0].arguments) == ("add", {"a": 2, "b": 3})
    assert (session.messages[2].tool_call_id, session.messages[2].content) == ("call-1", "5")
    assert session.usage is not None and session.usage.total_tokens == 40


async def test_an_async_agent_run_is_recorded(session_history: SessionHistory) -> None:
    agent = create_agent(
        model=fake_model(*a_run()),
        tools=tools(),
        middleware=[SessionHistoryMiddleware(session_history)],
    )
    await agent.ainvoke(
        {"messages": [HumanMessage("What is 2 + 3?")]},
        config={"configurable": {"session_id": "run-2"}},
    )
    messages = await SessionChatMessageHistory("run-2", session_history).aget_messages()
    assert [m.type for m in messages] == ["human", "ai", "tool", "ai"]


async def test_each_model_call_is_recorded_as_it_happens(
    session_history_config: HistoryConfig,
) -> None:
    """A run can be followed while it goes: the store grows after every model call."""
    sizes: list[int] = []

    class Spy:
        @hookimpl
        def session_history_saved(self, summary: Any) -> None:
            sizes.append(summary.message_count)

    async with SessionHistory(session_history_config, plugins=[Spy()]) as store:
        agent = create_agent(
            model=fake_model(*a_run()), tools=tools(), middleware=[SessionHistoryMiddleware(store)]
        )
        await agent.ainvoke(
            {"messages": [HumanMessage("2 + 3?")]}, config={"configurable": {"session_id": "live"}}
        )
    assert sizes == [2, 4]


async def test_a_thread_with_a_checkpointer_appends_only_new_messages(
    session_history: SessionHistory,
) -> None:
    agent = create_agent(
        model=fake_model(*a_run(), AIMessage("Still 5.")),
        tools=tools(),
        middleware=[SessionHistoryMiddleware(session_history)],
        checkpointer=InMemorySaver(),
    )
    config = {"configurable": {"thread_id": "thread-7"}}
    await agent.ainvoke({"messages": [HumanMessage("2 + 3?")]}, config=config)
    await agent.ainvoke({"messages": [HumanMessage("Sure?")]}, config=config)
    session = await session_history.load_session("thread-7")  # named by the thread id
    assert session is not None
    assert [m.content for m in session.messages] == [
        "2 + 3?",
        None,
        "5",
        "2 + 3 = 5",
        "Sure?",
        "Still 5.",
    ]


async def test_a_run_without_a_session_id_gets_one_of_its_own(
    session_history: SessionHistory,
) -> None:
    agent = create_agent(
        model=fake_model(AIMessage("hi")), middleware=[SessionHistoryMiddleware(session_history)]
    )
    await agent.ainvoke({"messages": [HumanMessage("hello")]})
    (summary,) = await session_history.list_sessions()
    assert summary.id.startswith("run-") and summary.message_count == 2


class NamedFake(ToolCallingFake):
    """A chat model that knows its name but, like some providers, does not report it."""

    model_name: str = "fake-model-7"


def replies_without_a_model_name() -> list[AIMessage]:
    return [AIMessage(m.content, tool_calls=m.tool_calls) for m in a_run()]


def test_the_model_a_sync_run_called_is_recorded(session_history_config: HistoryConfig) -> None:
    """No model= given and no model name in the replies: the chat model the agent called names
    the session's model, not "unknown" (issue 10, point 23)."""
    with SyncSessionHistory(session_history_config) as store:
        agent = create_agent(
            model=NamedFake(messages=iter(replies_without_a_model_name())),
            tools=tools(),
            middleware=[SessionHistoryMiddleware(store)],
        )
        agent.invoke(
            {"messages": [HumanMessage("2 + 3?")]}, config={"configurable": {"session_id": "m"}}
        )
        session = store.load_session("m")
    assert session is not None and session.model == "fake-model-7"


async def test_the_model_an_async_run_called_is_recorded(session_history: SessionHistory) -> None:
    agent = create_agent(
        model=NamedFake(messages=iter(replies_without_a_model_name())),
        tools=tools(),
        middleware=[SessionHistoryMiddleware(session_history)],
    )
    await agent.ainvoke(
        {"messages": [HumanMessage("2 + 3?")]}, config={"configurable": {"session_id": "m"}}
    )
    session = await session_history.load_session("m")
    assert session is not None and session.model == "fake-model-7"


async def test_the_reply_s_model_name_beats_the_configured_one_and_model_beats_both(
    session_history: SessionHistory,
) -> None:
    """What the provider says it ran ("model_name" in response_metadata) is the most exact; an
    explicit model= is what the caller wants recorded."""
    for session_id, middleware in (
        ("reported", SessionHistoryMiddleware(session_history)),
        ("explicit", SessionHistoryMiddleware(session_history, model="gpt-5")),
    ):
        agent = create_agent(
            model=NamedFake(messages=iter(a_run())), tools=tools(), middleware=[middleware]
        )
        await agent.ainvoke(
            {"messages": [HumanMessage("2 + 3?")]},
            config={"configurable": {"session_id": session_id}},
        )
    reported, explicit = (
        await session_history.load_session("reported"),
        await session_history.load_session("explicit"),
    )
    assert reported is not None and reported.model == "fake-gpt"
    assert explicit is not None and explicit.model == "gpt-5"


async def test_a_model_that_names_itself_nowhere_is_unknown(
    session_history: SessionHistory,
) -> None:
    agent = create_agent(
        model=fake_model(*replies_without_a_model_name()),
        tools=tools(),
        middleware=[SessionHistoryMiddleware(session_history)],
    )
    await agent.ainvoke(
        {"messages": [HumanMessage("2 + 3?")]}, config={"configurable": {"session_id": "m"}}
    )
    session = await session_history.load_session("m")
    assert session is not None and session.model == "unknown"


def test_the_middleware_is_importable_from_the_package() -> None:
    import langchain_session_history

    assert langchain_session_history.SessionHistoryMiddleware is SessionHistoryMiddleware
    with pytest.raises(AttributeError):
        langchain_session_history.NoSuchThing  # noqa: B018 - the attribute access is the test
