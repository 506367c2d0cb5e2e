"""``Runner.run`` with a ``HistorySession``: a tool-using agent run twice on one session, with the
SDK's own scripted model (``agents.testing``, no network); the second run sees the first's
items, the CLI shows the transcript and finds its text, and the run's usage reaches the
session."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from agents import Agent, RunConfig, Runner, SessionSettings, Usage, function_tool
from agents.result import RunResultBase
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from click.testing import CliRunner
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from openai_agents_session_history import HistorySession
from session_history import InvalidQueryError, SessionHistory
from session_history.cli import cli

NO_TRACING = RunConfig(tracing_disabled=True)


@function_tool
def order_status(order_id: str) -> str:
    """The shipping status of an order."""
    return f"order {order_id}: shipped, arrives Tuesday"


def usage(input_tokens: int, output_tokens: int) -> Usage:
    return Usage(
        requests=1,
        input_tokens=input_tokens,
        input_tokens_details=InputTokensDetails(cached_tokens=2, cache_write_tokens=0),
        output_tokens=output_tokens,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=1),
        total_tokens=input_tokens + output_tokens,
    )


async def run(how: str, agent: Agent[Any], text: str, session: HistorySession) -> RunResultBase:
    """One run, the way ``how`` says; run_sync runs in a thread with its own event loop."""
    if how == "run":
        return await Runner.run(agent, text, session=session, run_config=NO_TRACING)
    if how == "run_streamed":
        streamed = Runner.run_streamed(agent, text, session=session, run_config=NO_TRACING)
        async for _event in streamed.stream_events():
            pass
        return streamed
    return await asyncio.to_thread(run_sync_on_own_loop, agent, text, session)


def run_sync_on_own_loop(agent: Agent[Any], text: str, session: HistorySession) -> RunResultBase:
    # run_sync runs on the thread's default loop and leaves it open: give it one, and close it.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return Runner.run_sync(agent, text, session=session, run_config=NO_TRACING)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


@pytest.mark.parametrize("how", ["run", "run_streamed", "run_sync"])
async def test_a_second_run_sees_the_first_runs_items_and_the_cli_shows_them(
    how: str, session: HistorySession, session_history: SessionHistory, session_history_db: str
) -> None:
    model = ScriptedModel(
        [
            ModelStep(
                output=[function_call("order_status", {"order_id": "8812"}, call_id="call_1")],
                usage=usage(100, 10),
            ),
            ModelStep(
                output=[assistant_message("Order 8812 arrives Tuesday.")], usage=usage(120, 8)
            ),
            ModelStep(
                output=[assistant_message("You asked about order 8812.")], usage=usage(150, 7)
            ),
        ]
    )
    agent = Agent(name="support", instructions="Help.", model=model, tools=[order_status])

    first = await run(how, agent, "Where is my order 8812?", session)
    assert first.final_output == "Order 8812 arrives Tuesday."
    await session.add_run_usage(first)
    after_first = await session.get_items()
    kinds = [cast(dict[str, Any], item).get("type", "message") for item in after_first]
    assert kinds == ["message", "function_call", "function_call_output", "message"]

    second = await run(how, agent, "What did I ask?", session)
    assert second.final_output == "You asked about order 8812."
    await session.add_run_usage(second)
    model.assert_complete()
    # The model's input for the second run: the first run's items, then the new question.
    assert model.calls[-1].input == [*after_first, {"role": "user", "content": "What did I ask?"}]
    assert len(await session.get_items()) == 6

    summary = await session_history.get_summary("conv-1")
    assert summary is not None
    assert (summary.message_count, summary.turn_count, summary.tool_call_count) == (6, 2, 1)
    assert summary.usage is not None
    assert (summary.usage.input_tokens, summary.usage.output_tokens) == (370, 25)
    assert summary.usage.model_dump()["requests"] == 3
    assert summary.usage.model_dump()["input_tokens_details"]["cached_tokens"] == 6

    runner = CliRunner()
    shown = runner.invoke(cli, ["--db", str(session_history_db), "show", "conv-1"])
    assert shown.exit_code == 0, shown.output
    for text in (
        "agent support  model gpt-test",
        "user\n    Where is my order 8812?",
        'calls order_status({"order_id": "8812"})  [call_1]',
        "tool -> call_1",
        "order 8812: shipped, arrives Tuesday",
        "Order 8812 arrives Tuesday.",
        "You asked about order 8812.",
        "usage   370 in, 25 out, 395 total",
    ):
        assert text in shown.output
    found = runner.invoke(cli, ["--db", str(session_history_db), "search", "tuesday"])
    assert found.exit_code == 0, found.output
    assert "conv-1  #2 tool" in found.output and "conv-1  #3 assistant" in found.output


async def test_run_config_session_settings_limit_what_the_model_sees(
    session: HistorySession,
) -> None:
    await session.add_items(
        [cast(Any, {"role": "user", "content": f"Turn {i}"}) for i in range(10)]
    )
    model = ScriptedModel([[assistant_message("Got it")]])
    agent = Agent(name="test", model=model)
    await Runner.run(
        agent,
        "New question",
        session=session,
        run_config=RunConfig(tracing_disabled=True, session_settings=SessionSettings(limit=2)),
    )
    assert model.calls[-1].input == [
        {"role": "user", "content": "Turn 8"},
        {"role": "user", "content": "Turn 9"},
        {"role": "user", "content": "New question"},
    ]


async def test_usage_of_an_unfinished_streamed_run_is_refused(session: HistorySession) -> None:
    model = ScriptedModel([[assistant_message("Hi")]])
    streamed = Runner.run_streamed(Agent(name="t", model=model), "Hi", run_config=NO_TRACING)
    with pytest.raises(InvalidQueryError, match="has not finished"):
        await session.add_run_usage(streamed)
    async for _event in streamed.stream_events():
        pass
    await session.add_run_usage(streamed)
    await session.add_run_usage(usage(5, 5))
    summary = await session.history.get_summary("conv-1")
    assert summary is not None and summary.usage is not None
    assert summary.usage.total_tokens == 10  # the scripted model reported none itself
    assert summary.message_count == 0
