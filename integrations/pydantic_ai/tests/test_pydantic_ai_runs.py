"""Agent runs through the store: history across runs, usage, the CLI, failures, cancellation,
streaming and iteration, concurrency, and the blocking doors."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator

import pytest
from click.testing import CliRunner
from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel

from pydantic_ai_session_history import PydanticAIHistory, RunNotRecordedWarning
from pytest_session_history import HookRecorder
from session_history import (
    ChatMessage,
    HistoryConfig,
    InvalidQueryError,
    SessionHistory,
    SessionSummary,
    SyncSessionHistory,
    hookimpl,
)
from session_history.cli import cli

dump = ModelMessagesTypeAdapter.dump_json


class WeatherModel:
    """A model that asks for the forecast of the city in the prompt, then answers with it, and
    remembers every history it was sent."""

    def __init__(self) -> None:
        self.seen: list[list[ModelMessage]] = []

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.seen.append(list(messages))
        last = messages[-1]
        assert isinstance(last, ModelRequest)
        for part in last.parts:
            if isinstance(part, ToolReturnPart):
                return ModelResponse(parts=[TextPart(f"Forecast: {part.content}.")])
        prompt = next(p for p in last.parts if isinstance(p, UserPromptPart))
        city = str(prompt.content).split()[-1].rstrip("?")
        return ModelResponse(parts=[ToolCallPart("forecast", {"city": city})])


def weather_agent(model: WeatherModel | FunctionModel | TestModel) -> Agent[None, str]:
    agent = Agent(
        model if not isinstance(model, WeatherModel) else FunctionModel(model),
        instructions="Be terse.",
        name="weather",
    )

    @agent.tool_plain
    def forecast(city: str) -> str:
        """The forecast for a city."""
        return f"rain in {city}"

    return agent


async def test_a_tool_using_run_then_a_second_run_that_sees_the_first(
    pai: PydanticAIHistory, session_history: SessionHistory, session_history_db: str
) -> None:
    model = WeatherModel()
    agent = weather_agent(model)
    first = await pai.run(agent, "Umbrella in Lisbon?", session_id="trip-7")
    assert first.output == "Forecast: rain in Lisbon."
    assert dump(await pai.load("trip-7")) == dump(first.all_messages())

    second = await pai.run(agent, "And in Porto?", session_id="trip-7")
    # The second run's first request was sent with the whole first run before it.
    assert dump(model.seen[2][:4]) == dump(first.all_messages())
    assert second.output == "Forecast: rain in Porto."
    assert dump(await pai.load("trip-7")) == dump(second.all_messages())

    summary = await session_history.get_summary("trip-7")
    assert summary is not None
    assert (summary.agent_name, summary.model) == ("weather", "function:WeatherModel:")
    assert (summary.turn_count, summary.tool_call_count) == (2, 2)
    usage = first.usage + second.usage
    assert summary.usage is not None
    assert (summary.usage.input_tokens, summary.usage.output_tokens) == (
        usage.input_tokens,
        usage.output_tokens,
    )
    assert summary.usage.total_tokens == usage.total_tokens
    assert summary.usage.model_extra == {"requests": 4, "tool_calls": 2}

    shown = CliRunner().invoke(cli, ["--db", str(session_history_db), "show", "trip-7"])
    assert shown.exit_code == 0, shown.output
    for text in ("Umbrella in Lisbon?", "forecast", "rain in Lisbon", "Forecast: rain in Porto."):
        assert text in shown.output
    found = CliRunner().invoke(cli, ["--db", str(session_history_db), "search", "Porto", "--json"])
    assert found.exit_code == 0, found.output
    assert "trip-7" in found.output and "Porto" in found.output


async def test_test_model_runs_are_stored_losslessly(pai: PydanticAIHistory) -> None:
    agent = weather_agent(TestModel())
    result = await pai.run(agent, "Umbrella in Lisbon?", session_id="t")
    assert result.all_messages()[1].parts[0].part_kind == "tool-call"
    assert dump(await pai.load("t")) == dump(result.all_messages())


async def test_a_failing_run_appends_nothing(
    pai: PydanticAIHistory, session_history: SessionHistory
) -> None:
    await pai.run(weather_agent(WeatherModel()), "Rain in Lisbon?", session_id="s")
    before = await session_history.load_messages("s")

    def broken(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) > 5:  # after its tool call ran
            raise RuntimeError("provider down")
        return ModelResponse(parts=[ToolCallPart("forecast", {"city": "Oslo"})])

    with pytest.raises(RuntimeError, match="provider down"):
        await pai.run(weather_agent(FunctionModel(broken)), "Oslo?", session_id="s")
    assert await session_history.load_messages("s") == before
    with pytest.raises(RuntimeError, match="provider down"):
        await pai.run(weather_agent(FunctionModel(broken)), "Oslo?", session_id="new")
    assert await session_history.load_session("new") is None


async def test_a_cancelled_run_appends_nothing(
    pai: PydanticAIHistory, session_history: SessionHistory
) -> None:
    started = asyncio.Event()

    async def slow(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if not any(isinstance(p, ToolReturnPart) for p in messages[-1].parts):
            return ModelResponse(parts=[ToolCallPart("forecast", {"city": "Rome"})])
        started.set()
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    run = asyncio.ensure_future(
        pai.run(weather_agent(FunctionModel(slow)), "Rome?", session_id="s")
    )
    await asyncio.wait_for(started.wait(), 10)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert await session_history.load_session("s") is None


async def test_concurrent_runs_on_different_sessions_lose_nothing(
    pai: PydanticAIHistory, session_history: SessionHistory
) -> None:
    agent = weather_agent(WeatherModel())

    async def conversation(n: int) -> list[bytes]:
        dumps = []
        for turn in range(3):
            result = await pai.run(agent, f"Rain in city{n}x{turn}?", session_id=f"s{n}")
            dumps.append(dump(result.all_messages()))
        return dumps

    results = await asyncio.gather(*(conversation(n) for n in range(8)))
    for n, dumps in enumerate(results):
        assert dump(await pai.load(f"s{n}")) == dumps[-1]
        summary = await session_history.get_summary(f"s{n}")
        assert summary is not None and summary.tool_call_count == 3


async def test_concurrent_first_writes_to_one_session_create_it_once_and_lose_nothing(
    pai: PydanticAIHistory, session_history_hooks: HookRecorder
) -> None:
    async def write(n: int) -> None:
        await pai.append("race", [ModelRequest(parts=[UserPromptPart(f"w{n}")])])

    await asyncio.gather(*(write(n) for n in range(8)))
    loaded = await pai.load("race")
    prompts = [part.content for m in loaded for part in m.parts if isinstance(part, UserPromptPart)]
    assert sorted(map(str, prompts)) == [f"w{n}" for n in range(8)]
    assert sorted(session_history_hooks.operations) == ["append"] * 7 + ["create"]


async def test_iter_appends_when_the_run_finishes(pai: PydanticAIHistory) -> None:
    agent = weather_agent(WeatherModel())
    async with pai.iter(agent, "Rain in Bern?", session_id="s") as run:
        nodes = [node async for node in run]
        assert await pai.load("s") == []  # not before the block ends
    assert len(nodes) > 3 and run.result is not None
    assert dump(await pai.load("s")) == dump(run.result.all_messages())


async def test_iter_appends_nothing_on_error_cancellation_or_an_unfinished_run(
    pai: PydanticAIHistory, session_history: SessionHistory
) -> None:
    agent = weather_agent(WeatherModel())

    async def failing() -> None:
        async with pai.iter(agent, "Rain in Bern?", session_id="s") as run:
            async for _ in run:
                raise KeyError("oops")

    with pytest.raises(KeyError, match="oops"):
        await failing()

    async def cancelled() -> None:
        async with pai.iter(agent, "Rain in Bern?", session_id="s") as run:
            async for _ in run:
                asyncio.current_task().cancel()  # type: ignore[union-attr]
                await asyncio.sleep(0)

    with pytest.raises(asyncio.CancelledError):
        await asyncio.ensure_future(cancelled())
    with pytest.warns(RunNotRecordedWarning, match=r"session 's': the run had not finished"):
        async with pai.iter(agent, "Rain in Bern?", session_id="s") as run:
            await run.next(run.next_node)
    assert await session_history.load_session("s") is None


async def streamed(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
    for word in ("Sunny ", "in ", "Nice."):
        yield word


async def test_run_stream_appends_when_the_stream_was_read(pai: PydanticAIHistory) -> None:
    agent = weather_agent(FunctionModel(stream_function=streamed))
    async with pai.run_stream(agent, "Weather?", session_id="s") as stream:
        chunks = [chunk async for chunk in stream.stream_text(delta=True)]
    assert "".join(chunks) == "Sunny in Nice."
    loaded = await pai.load("s")
    assert dump(loaded) == dump(stream.all_messages())
    assert isinstance(loaded[-1], ModelResponse) and loaded[-1].parts == [
        TextPart("Sunny in Nice.")
    ]
    async with pai.run_stream(agent, "Again?", session_id="s") as stream:
        assert await stream.get_output() == "Sunny in Nice."
    assert dump(await pai.load("s")) == dump(stream.all_messages())
    assert len(stream.all_messages()) == 4


async def test_run_stream_appends_nothing_on_error_cancellation_or_an_unread_stream(
    pai: PydanticAIHistory, session_history: SessionHistory
) -> None:
    agent = weather_agent(FunctionModel(stream_function=streamed))

    async def failing() -> None:
        async with pai.run_stream(agent, "Weather?", session_id="s") as stream:
            async for _ in stream.stream_text():
                raise ValueError("client gone")

    with pytest.raises(ValueError, match="client gone"):
        await failing()

    async def cancelled() -> None:
        async with pai.run_stream(agent, "Weather?", session_id="s") as stream:
            async for _ in stream.stream_text():
                asyncio.current_task().cancel()  # type: ignore[union-attr]
                await asyncio.sleep(0)

    with pytest.raises(asyncio.CancelledError):
        await asyncio.ensure_future(cancelled())
    with pytest.warns(RunNotRecordedWarning, match="not read to its end"):
        async with pai.run_stream(agent, "Weather?", session_id="s"):
            pass
    assert await session_history.load_session("s") is None


async def test_run_refuses_the_history_arguments_it_supplies(pai: PydanticAIHistory) -> None:
    agent = weather_agent(WeatherModel())
    with pytest.raises(InvalidQueryError, match=r"message_history= cannot be passed"):
        await pai.run(agent, "x", session_id="s", message_history=[])
    with pytest.raises(InvalidQueryError, match=r"conversation= cannot be passed"):
        async with pai.iter(agent, "x", session_id="s", conversation=None):
            pass


def test_blocking_doors_in_a_plain_script(session_history_config: HistoryConfig) -> None:
    agent = weather_agent(WeatherModel())
    with SyncSessionHistory(session_history_config) as history:
        pai = PydanticAIHistory(history)
        result = pai.run_sync(agent, "Rain in Lyon?", session_id="s")
        assert result.output == "Forecast: rain in Lyon."
        assert dump(pai.load_sync("s")) == dump(result.all_messages())
        extra = [ModelRequest(parts=[UserPromptPart("note")])]
        pai.append_sync("s", extra, model="ignored: the session exists")
        assert dump(pai.load_sync("s")) == dump([*result.all_messages(), *extra])
        summary = history.get_summary("s")
        assert summary is not None and summary.agent_name == "weather"


async def test_run_sync_works_inside_a_running_event_loop(
    pai: PydanticAIHistory, session_history: SessionHistory
) -> None:
    # agent.run_sync cannot run here (the loop is running); the store's run_sync can.
    result = pai.run_sync(weather_agent(WeatherModel()), "Rain in Gent?", session_id="s")
    assert dump(await pai.load("s")) == dump(result.all_messages())


def test_blocking_doors_have_the_signatures_of_their_async_bodies() -> None:
    for name in ("load", "append", "run"):
        body = inspect.signature(getattr(PydanticAIHistory, name))
        door = inspect.signature(getattr(PydanticAIHistory, f"{name}_sync"))
        assert door.parameters == body.parameters


async def test_hooks_are_told_of_each_run(session_history_config: HistoryConfig) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.saved: list[tuple[str, str, int]] = []

        @hookimpl
        async def session_history_saved(
            self, summary: SessionSummary, new_messages: list[ChatMessage], operation: str
        ) -> None:
            self.saved.append((summary.id, operation, len(new_messages)))

    recorder = Recorder()
    async with SessionHistory(session_history_config, plugins=[recorder]) as history:
        pai = PydanticAIHistory(history)
        agent = weather_agent(WeatherModel())
        await pai.run(agent, "Rain in Graz?", session_id="s")
        await pai.run(agent, "Rain in Linz?", session_id="s")
    # Per run: instructions and prompt, the call, its result, the answer.
    assert recorder.saved == [("s", "create", 5), ("s", "append", 5)]


async def test_two_runs_on_one_session_are_both_kept_in_the_order_they_finish(
    pai: PydanticAIHistory,
) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        started.set()  # it has loaded the session (empty)
        await release.wait()
        return ModelResponse(parts=[TextPart("slow")])

    def fast(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart("fast")])

    first = asyncio.ensure_future(pai.run(Agent(FunctionModel(slow)), "one", session_id="s"))
    await asyncio.wait_for(started.wait(), 10)
    second = await pai.run(Agent(FunctionModel(fast)), "two", session_id="s")
    release.set()
    slow_result = await first
    assert (
        len(second.all_messages()) == len(slow_result.all_messages()) == 2
    )  # neither saw the other
    assert dump(await pai.load("s")) == dump([*second.all_messages(), *slow_result.all_messages()])
