"""SessionCheckpointer: LangGraph's conformance suite, InMemorySaver's behaviour, threads as
sessions, each message stored once, both doors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    ToolMessage,
    messages_to_dict,
)
from langchain_core.tools import tool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode

from langchain_session_history import SessionCheckpointer
from session_history import Role, SessionHistory, SyncSessionHistory

# -- LangGraph's own conformance suite ------------------------------------------------------------


async def test_conformance_suite_passes_all_eight_capabilities(
    session_history: SessionHistory,
) -> None:
    @checkpointer_test(name="SessionCheckpointer")
    async def saver() -> Any:
        yield SessionCheckpointer(session_history)

    report = await validate(saver)
    failures = {name: r.failures for name, r in report.results.items() if r.failures}
    assert failures == {}
    passed = {name for name, r in report.results.items() if r.detected and r.passed}
    assert passed == {
        "put",
        "put_writes",
        "get_tuple",
        "list",
        "delete_thread",
        "copy_thread",
        "delete_for_runs",
        "prune",
    }


# -- graphs --------------------------------------------------------------------------------------


@tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def agent(state: MessagesState) -> dict[str, list[BaseMessage]]:
    """A deterministic model: asks for the weather when told a city, then answers."""
    last = state["messages"][-1]
    n = len(state["messages"])
    if isinstance(last, HumanMessage) and "city" in str(last.content):
        call = {"name": "weather", "args": {"city": "Oslo"}, "id": f"call-{n}", "type": "tool_call"}
        return {"messages": [AIMessage("", tool_calls=[call], id=f"ai-after-{last.id}")]}
    return {
        "messages": [
            AIMessage(
                f"answer {n}",
                id=f"ai-after-{last.id}",
                usage_metadata={"input_tokens": n, "output_tokens": 1, "total_tokens": n + 1},
            )
        ]
    }


def route(state: MessagesState) -> str:
    last = state["messages"][-1]
    return "tools" if isinstance(last, AIMessage) and last.tool_calls else "notes"


def trim(state: MessagesState) -> dict[str, list[BaseMessage]]:
    """Keeps the state at most 6 messages long: the oldest go (from the state, not the record)."""
    messages = state["messages"]
    extra = len(messages) - 6
    return {"messages": [RemoveMessage(id=str(m.id)) for m in messages[: max(extra, 0)]]}


def notes_graph() -> Any:
    """A subgraph (its checkpoints are in a namespace of their own) that adds a note."""

    def note(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [AIMessage(f"noted {len(state['messages'])}")]}

    sub = StateGraph(MessagesState)
    sub.add_node("note", note)
    sub.add_edge(START, "note")
    sub.add_edge("note", END)
    return sub.compile()


def full_graph(checkpointer: BaseCheckpointSaver[Any]) -> CompiledStateGraph[Any]:
    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([weather]))
    graph.add_node("notes", notes_graph())
    graph.add_node("trim", trim)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, ["tools", "notes"])
    graph.add_edge("tools", "agent")
    graph.add_edge("notes", "trim")
    graph.add_edge("trim", END)
    return graph.compile(checkpointer=checkpointer)


def chat_graph(checkpointer: BaseCheckpointSaver[Any]) -> CompiledStateGraph[Any]:
    """The one-node MessagesState graph of the growth figures."""

    def reply(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [AIMessage(f"reply {len(state['messages'])} " + "x" * 280)]}

    graph = StateGraph(MessagesState)
    graph.add_node("reply", reply)
    graph.add_edge(START, "reply")
    graph.add_edge("reply", END)
    return graph.compile(checkpointer=checkpointer)


def thread(name: str, **more: str) -> Any:
    return {"configurable": {"thread_id": name, **more}}


# -- behaves as InMemorySaver ---------------------------------------------------------------------


class Ids:
    """Names ids by their order of first appearance, so two runs' random ids compare."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.seen.setdefault(value, f"id{len(self.seen)}")
        return value


def comparable(messages: list[BaseMessage], ids: Ids) -> list[dict[str, Any]]:
    found = messages_to_dict(messages)
    for item in found:
        item["data"]["id"] = ids(item["data"]["id"])
        for call in item["data"].get("tool_calls", []):
            call["id"] = ids(call["id"])
        if "tool_call_id" in item["data"]:
            item["data"]["tool_call_id"] = ids(item["data"]["tool_call_id"])
    return found


def scenario(graph: CompiledStateGraph[Any]) -> list[Any]:
    """Turns with tool calls, a subgraph and trims, an edit by update_state, and time travel;
    every state and the whole history, comparable across savers."""
    ids = Ids()
    config = thread("t")
    graph.invoke({"messages": [HumanMessage("hello", id="h1")]}, config)
    graph.invoke({"messages": [HumanMessage("the city, please", id="h2")]}, config)
    graph.invoke({"messages": [HumanMessage("and tomorrow?", id="h3")]}, config)
    last_ai = graph.get_state(config).values["messages"][-1]
    graph.update_state(config, {"messages": [AIMessage("edited", id=last_ai.id)]})
    history = list(graph.get_state_history(config))
    earlier = next(s for s in history if s.metadata and s.metadata.get("step") == 3)
    graph.invoke({"messages": [HumanMessage("again", id="h4")]}, earlier.config)
    seen = []
    for snapshot in graph.get_state_history(config):
        metadata = {k: v for k, v in (snapshot.metadata or {}).items() if k != "run_id"}
        seen.append(
            (
                comparable(snapshot.values.get("messages", []), ids),
                metadata["source"],
                metadata["step"],
                snapshot.next,
                snapshot.parent_config is not None,
                [(t.name, t.path) for t in snapshot.tasks],
            )
        )
    sub = graph.get_state(config, subgraphs=True)
    seen.append(comparable(sub.values["messages"], ids))
    return seen


def test_a_graph_behaves_as_on_langgraphs_in_memory_saver(
    session_history_sync: SyncSessionHistory,
) -> None:
    ours = scenario(full_graph(SessionCheckpointer(session_history_sync)))
    theirs = scenario(full_graph(InMemorySaver()))
    assert ours == theirs
    assert len(ours) > 20


async def test_the_same_graph_async_behaves_as_in_memory_too(
    session_history: SessionHistory,
) -> None:
    async def run(graph: CompiledStateGraph[Any]) -> list[Any]:
        ids = Ids()
        for n, text in enumerate(["hello", "the city, please", "more"]):
            await graph.ainvoke({"messages": [HumanMessage(text, id=f"h{n}")]}, thread("a"))
        return [
            comparable(s.values.get("messages", []), ids)
            async for s in graph.aget_state_history(thread("a"))
        ]

    assert await run(full_graph(SessionCheckpointer(session_history))) == await run(
        full_graph(InMemorySaver())
    )


# -- every thread a session ---------------------------------------------------------------------


async def test_a_thread_is_a_session_every_door_reads(session_history: SessionHistory) -> None:
    graph = full_graph(SessionCheckpointer(session_history, agent_name="weather-bot"))
    await graph.ainvoke({"messages": [HumanMessage("the city, please")]}, thread("t1"))
    (summary,) = await session_history.list_sessions()
    assert (summary.id, summary.agent_name) == ("t1", "weather-bot")
    stored = await session_history.load_messages("t1")
    assert [m.role for m in stored] == [Role.USER, Role.ASSISTANT, Role.TOOL] + [Role.ASSISTANT] * 2
    assert stored[1].tool_calls is not None and stored[1].tool_calls[0].name == "weather"
    assert [m.content for m in stored[2:]] == ["sunny in Oslo", "answer 3", "noted 4"]
    assert summary.usage is not None and summary.usage.input_tokens == 3
    hits = await session_history.search("sunny")
    assert [hit.session_id for hit in hits] == ["t1"]


async def test_each_message_is_stored_once_and_growth_is_linear(
    session_history: SessionHistory,
) -> None:
    graph = chat_graph(SessionCheckpointer(session_history))

    async def state_size() -> int:
        return len(json.dumps(await session_history.load_state("c")))

    sizes = []
    for turns in (10, 20, 30):
        while len(await session_history.load_messages("c")) < 2 * turns:
            await graph.ainvoke({"messages": [HumanMessage("hi " + "y" * 280)]}, thread("c"))
        sizes.append(await state_size())
    assert len(await session_history.load_messages("c")) == 60  # every message, once each
    first, second, third = sizes[0], sizes[1] - sizes[0], sizes[2] - sizes[1]
    # Ten more turns add what the first ten did: a saver that stored the list at every step
    # would add twice as much, then three times.
    assert second < 1.2 * first and third < 1.2 * first
    # The state holds no message text beyond each turn's input and the reply's write.
    state = json.dumps(await session_history.load_state("c"))
    assert "reply 1 " not in state  # writes are serialised, never the messages channel in JSON


async def test_a_trim_leaves_the_record_whole(session_history: SessionHistory) -> None:
    graph = full_graph(SessionCheckpointer(session_history))
    for n in range(5):
        await graph.ainvoke({"messages": [HumanMessage(f"turn {n}", id=f"h{n}")]}, thread("t"))
    state = await graph.aget_state(thread("t"))
    assert len(state.values["messages"]) == 6
    stored = await session_history.load_messages("t")
    assert len(stored) == 15  # 5 turns of human, answer and note: nothing trimmed out
    assert [m.id for m in stored[::3]] == [f"h{n}" for n in range(5)]


async def test_time_travel_branches_the_session(session_history: SessionHistory) -> None:
    graph = chat_graph(SessionCheckpointer(session_history))
    for text in ("one", "two", "three"):
        await graph.ainvoke({"messages": [HumanMessage(text)]}, thread("tt"))
    history = [s async for s in graph.aget_state_history(thread("tt"))]
    after_one = next(s for s in history if len(s.values.get("messages", [])) == 2)
    await graph.ainvoke({"messages": [HumanMessage("other two")]}, after_one.config)
    branches = await session_history.list_branches("tt")
    assert sorted(b.length for b in branches) == [4, 6]
    assert [b.length for b in branches if b.current] == [4]
    now = await graph.aget_state(thread("tt"))
    assert [m.content for m in now.values["messages"]][::2] == ["one", "other two"]
    # The older branch's checkpoints still read whole.
    old = await graph.aget_state(history[0].config)
    assert [m.content for m in old.values["messages"]][::2] == ["one", "two", "three"]


async def test_update_state_edits_read_back_and_the_record_keeps_both(
    session_history: SessionHistory,
) -> None:
    graph = chat_graph(SessionCheckpointer(session_history))
    await graph.ainvoke({"messages": [HumanMessage("one", id="h")]}, thread("u"))
    await graph.aupdate_state(thread("u"), {"messages": [HumanMessage("one, edited", id="h")]})
    state = await graph.aget_state(thread("u"))
    assert state.values["messages"][0].content == "one, edited"
    stored = await session_history.load_messages("u")
    assert [m.content for m in stored][::2] == ["one", "one, edited"]


async def test_a_tool_artifact_json_cannot_hold_reads_back_exactly(
    session_history: SessionHistory,
) -> None:
    graph = chat_graph(SessionCheckpointer(session_history))
    artifact = {"when": {1, 2}}  # a set: not JSON
    message = ToolMessage("done", tool_call_id="c1", artifact=artifact, id="tm")
    await graph.aupdate_state(thread("art"), {"messages": [message]})
    state = await graph.aget_state(thread("art"))
    assert state.values["messages"][0].artifact == artifact
    (stored,) = await session_history.load_messages("art")
    assert stored.role is Role.TOOL and stored.content == "done"


async def test_keep_keeps_the_newest_checkpoints_and_every_message(
    session_history: SessionHistory,
) -> None:
    graph = chat_graph(SessionCheckpointer(session_history, keep=2))
    for n in range(4):
        await graph.ainvoke({"messages": [HumanMessage(f"m{n}")]}, thread("k"))
    assert len([s async for s in graph.aget_state_history(thread("k"))]) == 2
    assert len(await session_history.load_messages("k")) == 8
    assert len((await graph.aget_state(thread("k"))).values["messages"]) == 8


async def test_deleting_the_thread_or_the_session_deletes_both(
    session_history: SessionHistory,
) -> None:
    saver = SessionCheckpointer(session_history)
    graph = chat_graph(saver)
    await graph.ainvoke({"messages": [HumanMessage("x")]}, thread("d1"))
    await graph.ainvoke({"messages": [HumanMessage("x")]}, thread("d2"))
    await saver.adelete_thread("d1")
    assert await session_history.get_summary("d1") is None
    await session_history.delete_session("d2")
    assert await saver.aget_tuple(thread("d2")) is None


async def test_copy_thread_forks_the_session(session_history: SessionHistory) -> None:
    saver = SessionCheckpointer(session_history)
    graph = chat_graph(saver)
    await graph.ainvoke({"messages": [HumanMessage("x")]}, thread("src"))
    await saver.acopy_thread("src", "dst")
    assert (await session_history.get_summary("dst")).forked_from == "src"  # type: ignore[union-attr]
    copied = await graph.aget_state(thread("dst"))
    original = await graph.aget_state(thread("src"))
    assert messages_to_dict(copied.values["messages"]) == messages_to_dict(
        original.values["messages"]
    )


# -- both doors, any thread ---------------------------------------------------------------------


def test_sync_invoke_on_a_blocking_store(session_history_sync: SyncSessionHistory) -> None:
    graph = chat_graph(SessionCheckpointer(session_history_sync))
    graph.invoke({"messages": [HumanMessage("a")]}, thread("s"))
    graph.invoke({"messages": [HumanMessage("b")]}, thread("s"))
    assert len(graph.get_state(thread("s")).values["messages"]) == 4
    assert len(list(graph.get_state_history(thread("s")))) == 6


async def test_a_blocking_invoke_in_a_worker_thread_while_the_loop_runs(
    session_history: SessionHistory,
) -> None:
    saver = SessionCheckpointer(session_history)
    graph = chat_graph(saver)
    await graph.ainvoke({"messages": [HumanMessage("async")]}, thread("w"))
    work = asyncio.to_thread(graph.invoke, {"messages": [HumanMessage("sync")]}, thread("w"))
    _, reads = await asyncio.gather(work, session_history.list_sessions())
    assert [s.id for s in reads] == ["w"]
    state = await graph.aget_state(thread("w"))
    assert [m.content for m in state.values["messages"]][::2] == ["async", "sync"]


async def test_async_methods_on_a_blocking_store(
    session_history_sync: SyncSessionHistory,
) -> None:
    graph = chat_graph(SessionCheckpointer(session_history_sync))
    await graph.ainvoke({"messages": [HumanMessage("a")]}, thread("as"))
    assert len((await graph.aget_state(thread("as"))).values["messages"]) == 2


def test_a_disabled_store_is_refused_with_what_to_do() -> None:
    with pytest.raises(Exception, match="needs an enabled store"):
        SessionCheckpointer(SessionHistory())


async def test_a_second_saver_on_the_store_sees_the_first_ones_writes(
    session_history: SessionHistory,
) -> None:
    first, second = SessionCheckpointer(session_history), SessionCheckpointer(session_history)
    await chat_graph(first).ainvoke({"messages": [HumanMessage("1")]}, thread("two"))
    await chat_graph(second).ainvoke({"messages": [HumanMessage("2")]}, thread("two"))
    await chat_graph(first).ainvoke({"messages": [HumanMessage("3")]}, thread("two"))
    state = await chat_graph(second).aget_state(thread("two"))
    assert [m.content for m in state.values["messages"]][::2] == ["1", "2", "3"]
