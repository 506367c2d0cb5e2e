"""HistorySession's usage per turn, as AdvancedSQLiteSession's, and the session's total."""

from __future__ import annotations

import logging

import pytest
from agents import Agent, RunConfig, Runner, RunResult, Usage, function_tool
from agents.run_context import RunContextWrapper
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from openai_agents_session_history import HistorySession
from session_history import SessionHistory


def run_with(usage: Usage) -> RunResult:
    """A finished run whose context holds ``usage`` (all store_run_usage reads)."""
    return RunResult(
        input="q",
        new_items=[],
        raw_responses=[],
        final_output="a",
        input_guardrail_results=[],
        output_guardrail_results=[],
        tool_input_guardrail_results=[],
        tool_output_guardrail_results=[],
        context_wrapper=RunContextWrapper(context=None, usage=usage),
        _last_agent=Agent(name="a", model=ScriptedModel()),
        interruptions=[],
    )


def usage(requests: int, tokens: int, cached: int = 0, reasoning: int = 0) -> Usage:
    return Usage(
        requests=requests,
        input_tokens=tokens // 2,
        output_tokens=tokens - tokens // 2,
        total_tokens=tokens,
        input_tokens_details=InputTokensDetails(cached_tokens=cached, cache_write_tokens=0),
        output_tokens_details=OutputTokensDetails(reasoning_tokens=reasoning),
    )


async def test_usage_is_kept_per_turn_with_its_details(session: HistorySession) -> None:
    await session.add_items([{"role": "user", "content": "first"}])
    await session.store_run_usage(run_with(usage(1, 80, cached=10, reasoning=5)))
    await session.add_items([{"role": "user", "content": "second"}])
    await session.store_run_usage(run_with(usage(2, 120, cached=20, reasoning=15)))

    assert await session.get_session_usage() == {
        "requests": 3,
        "input_tokens": 100,
        "output_tokens": 100,
        "total_tokens": 200,
        "total_turns": 2,
    }
    first = await session.get_turn_usage(1)
    assert isinstance(first, dict)
    details = first.pop("input_tokens_details"), first.pop("output_tokens_details")
    assert first == {"requests": 1, "input_tokens": 40, "output_tokens": 40, "total_tokens": 80}
    # Nested dicts of the details' fields, as the SDK stores them.
    assert (details[0]["cached_tokens"], details[1]["reasoning_tokens"]) == (10, 5)
    every = await session.get_turn_usage()
    assert isinstance(every, list)
    assert [(t["user_turn_number"], t["total_tokens"]) for t in every] == [(1, 80), (2, 120)]
    assert await session.get_turn_usage(3) == {}


async def test_the_session_total_agrees_with_the_sdks_figures(
    session: HistorySession, session_history: SessionHistory
) -> None:
    for turn in range(3):
        await session.add_items([{"role": "user", "content": str(turn)}])
        await session.store_run_usage(run_with(usage(1, 10 * (turn + 1))))
    summary = await session_history.get_summary("conv-1")
    sdk = await session.get_session_usage()
    assert summary is not None and summary.usage is not None and sdk is not None
    assert (
        summary.usage.input_tokens,
        summary.usage.output_tokens,
        summary.usage.total_tokens,
    ) == (
        sdk["input_tokens"],
        sdk["output_tokens"],
        sdk["total_tokens"],
    )


async def test_a_second_run_in_a_turn_replaces_its_usage(session: HistorySession) -> None:
    await session.add_items([{"role": "user", "content": "q"}])
    await session.store_run_usage(run_with(usage(1, 80)))
    await session.store_run_usage(run_with(usage(2, 30)))
    assert await session.get_turn_usage(1) == {
        **(await session.get_turn_usage(1)),  # type: ignore[dict-item]
        "requests": 2,
        "total_tokens": 30,
    }
    assert (await session.get_session_usage() or {})["total_turns"] == 1


async def test_usage_without_details_and_with_only_output_details(session: HistorySession) -> None:
    await session.add_items([{"role": "user", "content": "q"}])
    await session.store_run_usage(run_with(Usage(requests=1, input_tokens=1, total_tokens=1)))
    row = await session.get_turn_usage(1)
    assert isinstance(row, dict)
    assert row["input_tokens_details"]["cached_tokens"] == 0
    assert row["output_tokens_details"]["reasoning_tokens"] == 0

    only_output = Usage(requests=1, output_tokens_details=OutputTokensDetails(reasoning_tokens=42))
    object.__setattr__(only_output, "input_tokens_details", None)  # as some providers leave it
    await session.add_items([{"role": "user", "content": "q2"}])
    await session.store_run_usage(run_with(only_output))
    row = await session.get_turn_usage(2)
    assert isinstance(row, dict)
    assert row["input_tokens_details"] is None
    assert row["output_tokens_details"] == {"reasoning_tokens": 42}


async def test_usage_is_kept_per_branch(session: HistorySession) -> None:
    await session.add_items([{"role": "user", "content": "main"}])
    await session.store_run_usage(run_with(usage(1, 80)))
    await session.create_branch_from_turn(1, "b")
    await session.add_items([{"role": "user", "content": "branch"}])
    await session.store_run_usage(run_with(usage(2, 160)))

    assert (await session.get_session_usage("main") or {})["total_tokens"] == 80
    assert (await session.get_session_usage("b") or {})["total_tokens"] == 160
    assert await session.get_session_usage() == {
        "requests": 3,
        "input_tokens": 120,
        "output_tokens": 120,
        "total_tokens": 240,
        "total_turns": 2,
    }
    on_b = await session.get_turn_usage(branch_id="b")
    assert isinstance(on_b, list) and [t["requests"] for t in on_b] == [2]
    await session.switch_to_branch("main")
    await session.delete_branch("b")
    assert (await session.get_session_usage() or {})["total_turns"] == 1


async def test_a_pop_that_empties_a_turn_drops_its_usage(session: HistorySession) -> None:
    await session.add_items(
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    )
    await session.store_run_usage(run_with(usage(1, 80)))
    await session.pop_item()
    assert await session.get_turn_usage(1) != {}
    await session.pop_item()
    assert await session.get_turn_usage(1) == {}
    assert await session.get_session_usage() is None


async def test_clear_drops_usage_per_turn(session: HistorySession) -> None:
    await session.add_items([{"role": "user", "content": "q"}])
    await session.store_run_usage(run_with(usage(1, 80)))
    await session.clear_session()
    assert await session.get_session_usage() is None
    await session.add_items([{"role": "user", "content": "fresh"}])
    assert [t["turn"] for t in await session.get_conversation_turns()] == [1]


async def test_usage_before_any_item_is_turn_zero(session: HistorySession) -> None:
    await session.store_run_usage(run_with(usage(1, 8)))
    assert (await session.get_turn_usage(0) or {})["total_tokens"] == 8


async def test_store_run_usage_logs_a_failure_and_never_raises(
    session: HistorySession,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("store down")

    monkeypatch.setattr(session.history, "append_messages", broken)
    with caplog.at_level(logging.ERROR):
        await session.store_run_usage(run_with(usage(1, 8)))
    assert "Failed to store session usage" in caplog.text


async def test_store_run_usage_is_quiet_after_close(session_history_db: str) -> None:
    owned = HistorySession.from_path("closing", session_history_db)
    await owned.store_run_usage(run_with(usage(1, 8)))
    await owned.aclose()
    await owned.store_run_usage(run_with(usage(1, 8)))  # logged, not raised


@function_tool
async def lookup(query: str) -> str:
    """Look something up."""
    return f"found {query}"


async def test_runs_of_an_agent_give_turns_tools_and_usage(session: HistorySession) -> None:
    model = ScriptedModel(
        [
            ModelStep(output=[function_call("lookup", {"query": "x"}, call_id="c")]),
            ModelStep(output=[assistant_message("done")], usage=usage(1, 10)),
            ModelStep(output=[assistant_message("California")], usage=usage(1, 20)),
        ]
    )
    agent = Agent(name="a", model=model, tools=[lookup])
    quiet = RunConfig(tracing_disabled=True)
    first = await Runner.run(agent, "use the tool", session=session, run_config=quiet)
    await session.store_run_usage(first)
    second = await Runner.run(agent, "which state?", session=session, run_config=quiet)
    await session.store_run_usage(second)

    assert len(await session.get_conversation_by_turns()) == 2
    assert await session.get_tool_usage() == [("lookup", 1, 1)]
    totals = await session.get_session_usage()
    assert totals is not None and totals["total_turns"] == 2
