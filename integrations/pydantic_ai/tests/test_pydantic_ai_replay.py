"""Replaying a conversation recorded by ``PydanticAIHistory`` (``replay.py``, through the plugin's
``replay_model``): ``run``, ``run_stream`` and ``run_sync``, thinking with its signature, the
recorded usage, two runs of one session, and the input checks."""

from __future__ import annotations

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from pydantic_ai_session_history import PydanticAIHistory
from pytest_session_history import HookRecorder, normalized_transcript, replay_model
from session_history import Session, SessionHistory


def scripted(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if any(isinstance(part, ToolReturnPart) for part in messages[-1].parts):
        return ModelResponse(
            parts=[TextPart("Rain in Porto.")], usage=RequestUsage(input_tokens=70, output_tokens=9)
        )
    return ModelResponse(
        parts=[
            ThinkingPart("Check the forecast.", signature="sig-1"),
            ToolCallPart("forecast", {"city": "Porto"}, tool_call_id="pyd_1"),
        ],
        usage=RequestUsage(input_tokens=50, output_tokens=7),
    )


def weather(model: FunctionModel, result: str = "rain") -> Agent[None, str]:
    agent = Agent(model, name="weather", instructions="Be brief.")

    @agent.tool_plain
    def forecast(city: str) -> str:
        """Tomorrow's forecast."""
        return result

    return agent


async def record(store: PydanticAIHistory, recorder: HookRecorder) -> Session:
    model = FunctionModel(scripted, model_name="gpt-5")
    for prompt in ("Umbrella in Porto?", "And the day after?"):
        await store.run(weather(model), prompt, session_id="recorded")
    return await recorder.aget_session()


@pytest.mark.parametrize("how", ["run", "run_stream", "run_sync"])
async def test_a_replayed_conversation_gives_the_same_transcript(
    session_history: SessionHistory, session_history_recorder: HookRecorder, how: str
) -> None:
    store = PydanticAIHistory(session_history)
    recorded = await record(store, session_history_recorder)
    model = replay_model(recorded, framework="pydantic-ai")
    for prompt in ("Umbrella in Porto?", "And the day after?"):
        if how == "run":
            await store.run(weather(model), prompt, session_id="replayed")
        elif how == "run_sync":  # the blocking door, on session-history's background loop
            store.run_sync(weather(model), prompt, session_id="replayed")
        else:
            async with store.run_stream(weather(model), prompt, session_id="replayed") as stream:
                await stream.get_output()
    replayed = await session_history.load_session("replayed")
    assert replayed is not None
    assert normalized_transcript(replayed) == normalized_transcript(recorded)
    assert replayed.model == "gpt-5"
    thinking = [
        p for m in await store.load("replayed") for p in m.parts if isinstance(p, ThinkingPart)
    ]
    assert [(p.content, p.signature) for p in thinking] == [("Check the forecast.", "sig-1")] * 2
    if how != "run_stream":  # a stream's usage is FunctionModel's estimate
        assert (
            normalized_transcript(replayed, usage=True)[-1]
            == normalized_transcript(recorded, usage=True)[-1]
        )


async def test_a_changed_tool_result_and_an_extra_call_fail(
    session_history: SessionHistory, session_history_recorder: HookRecorder
) -> None:
    store = PydanticAIHistory(session_history)
    recorded = await record(store, session_history_recorder)
    with pytest.raises(AssertionError) as caught:
        await weather(replay_model(recorded, framework="pydantic-ai"), "sun").run(
            "Umbrella in Porto?"
        )
    assert "- 4. tool (forecast): 'rain' status='success'" in str(caught.value)
    assert "+ 4. tool (forecast): 'sun' status='success'" in str(caught.value)
    model = replay_model(recorded, framework="pydantic-ai")
    history: list[ModelMessage] = []
    for prompt in ("Umbrella in Porto?", "And the day after?"):
        history = (await weather(model).run(prompt, message_history=history)).all_messages()
    with pytest.raises(
        AssertionError, match="model call 5 asked for a reply, but the recording has only 4"
    ):
        await weather(model).run("And the week after?", message_history=history)
