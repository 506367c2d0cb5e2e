"""Replaying a recorded ``create_agent`` run (``replay.py``, through the plugin's
``replay_model``): both doors, streaming, reasoning and usage, runs with and without a
checkpointer, and the input checks."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from lc_samples import ToolCallingFake, add

from langchain_session_history import SessionHistoryMiddleware
from langchain_session_history.replay import ReplayChatModel
from pytest_session_history import HookRecorder, normalized_transcript, replay_model
from session_history import Session, SessionHistory


def recorded_replies() -> list[AIMessage]:
    return [
        AIMessage(
            "",
            tool_calls=[
                {"name": "add", "args": {"a": 2, "b": 3}, "id": "call-9", "type": "tool_call"}
            ],
            additional_kwargs={"reasoning_content": "Use the tool."},
            usage_metadata={"input_tokens": 10, "output_tokens": 4, "total_tokens": 14},
            response_metadata={"model_name": "gpt-5-2025-08-07"},
        ),
        AIMessage(
            "5.", usage_metadata={"input_tokens": 20, "output_tokens": 2, "total_tokens": 22}
        ),
        AIMessage("Still 5."),
    ]


def agent(model: Any, history: SessionHistory, **kwargs: Any) -> Any:
    recorder = SessionHistoryMiddleware(history, agent_name="calc")
    return create_agent(model, [add], system_prompt="Be exact.", middleware=[recorder], **kwargs)


async def record(history: SessionHistory, recorder: HookRecorder, **kwargs: Any) -> Session:
    """Two runs of a thread: a tool call and its answer, then a follow-up."""
    model = ToolCallingFake(messages=iter(recorded_replies()))
    run = agent(model, history, **kwargs)
    config = {"configurable": {"session_id": "recorded", "thread_id": "t-1"}}
    await run.ainvoke({"messages": [HumanMessage("2 + 3?")]}, config=config)
    await run.ainvoke({"messages": [HumanMessage("Sure?")]}, config=config)
    return await recorder.aget_session()


@pytest.mark.parametrize("checkpointer", [False, True], ids=["fresh-runs", "checkpointer"])
async def test_a_replayed_thread_gives_the_same_transcript_through_both_doors(
    session_history: SessionHistory, session_history_recorder: HookRecorder, checkpointer: bool
) -> None:
    """Without a checkpointer, each run's model sees only that run: the recording's tail."""
    saver = {"checkpointer": InMemorySaver()} if checkpointer else {}
    recorded = await record(session_history, session_history_recorder, **saver)
    model = replay_model(recorded, framework="langchain")
    replay = agent(model, session_history, **({"checkpointer": InMemorySaver()} if saver else {}))
    config = {"configurable": {"session_id": "replayed", "thread_id": "t-2"}}
    replay.invoke({"messages": [HumanMessage("2 + 3?")]}, config=config)  # the sync door
    await replay.ainvoke({"messages": [HumanMessage("Sure?")]}, config=config)
    replayed = await session_history.load_session("replayed")
    assert replayed is not None and model.calls == 3
    assert normalized_transcript(replayed, usage=True) == normalized_transcript(
        recorded, usage=True
    )
    assert replayed.model == "gpt-5-2025-08-07"  # the reply's metadata, replayed
    assert replayed.messages[1].reasoning == "Use the tool."
    assert replayed.messages[1].tool_calls and replayed.messages[1].tool_calls[0].id == "call-9"


async def test_a_streamed_replay_gives_the_same_transcript(
    session_history: SessionHistory, session_history_recorder: HookRecorder
) -> None:
    recorded = await record(session_history, session_history_recorder)
    replay = agent(replay_model(recorded, framework="langchain"), session_history)
    config = {"configurable": {"session_id": "streamed"}}
    for text in ("2 + 3?", "Sure?"):
        chunks = [c async for c in replay.astream({"messages": [("user", text)]}, config=config)]
        assert chunks
    replayed = await session_history.load_session("streamed")
    assert replayed is not None
    assert normalized_transcript(replayed) == normalized_transcript(recorded)


async def test_a_different_system_prompt_is_not_compared_when_none_was_recorded(
    session_history: SessionHistory, session_history_recorder: HookRecorder
) -> None:
    recorded = await record(session_history, session_history_recorder)
    model = replay_model(recorded, framework="langchain")
    replay = create_agent(model, [add], system_prompt="Another prompt.")
    result = await replay.ainvoke({"messages": [HumanMessage("2 + 3?")]})
    assert result["messages"][-1].content == "5."


async def test_a_run_that_drops_the_history_it_had_fails(
    session_history: SessionHistory, session_history_recorder: HookRecorder
) -> None:
    """The tail allowance starts at a user message: an input cut elsewhere is a difference."""
    recorded = await record(session_history, session_history_recorder)
    model = replay_model(recorded, framework="langchain")
    assert isinstance(model, ReplayChatModel)
    model.invoke([HumanMessage("2 + 3?")])  # call 1, as recorded
    with pytest.raises(AssertionError, match="model call 2 was sent an input that differs"):
        model.invoke([HumanMessage("2 + 3?")])  # call 2 was sent the tool's result too
