"""Replaying a run recorded by ``HistorySession`` (``replay.py``, through the plugin's
``replay_model``): ``Runner.run`` and ``run_streamed``, reasoning items and several calls in one
response, two runs of one session, and the input checks."""

from __future__ import annotations

from typing import Any

import pytest
from agents import Agent, RunConfig, Runner, function_tool
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from openai.types.responses import ResponseReasoningItem
from openai.types.responses.response_reasoning_item import Summary

from openai_agents_session_history import HistorySession
from pytest_session_history import HookRecorder, normalized_transcript, replay_model
from session_history import Session, SessionHistory

NO_TRACING = RunConfig(tracing_disabled=True)


@function_tool
def order_status(order_id: str) -> str:
    """The shipping status of an order."""
    return f"order {order_id}: shipped"


def support(model: Any) -> Agent[Any]:
    return Agent(name="support", instructions="Be brief.", model=model, tools=[order_status])


def script() -> ScriptedModel:
    reasoning = ResponseReasoningItem(
        id="rs_1",
        type="reasoning",
        summary=[Summary(text="Look both orders up.", type="summary_text")],
    )
    return ScriptedModel(
        [
            ModelStep(
                output=[
                    reasoning,
                    function_call("order_status", {"order_id": "A7"}, call_id="call_a"),
                    function_call("order_status", {"order_id": "B2"}, call_id="call_b"),
                ]
            ),
            [assistant_message("Both shipped.", item_id="msg_1")],
            [assistant_message("You're welcome.", item_id="msg_2")],
        ]
    )


async def record(history: SessionHistory, recorder: HookRecorder) -> Session:
    session = HistorySession("recorded", history, agent_name="support")
    model = script()
    for text in ("Where are A7 and B2?", "Thanks!"):
        await Runner.run(support(model), text, session=session, run_config=NO_TRACING)
    return await recorder.aget_session()


@pytest.mark.parametrize("how", ["run", "run_streamed"])
async def test_a_replayed_session_gives_the_same_transcript(
    session_history: SessionHistory, session_history_recorder: HookRecorder, how: str
) -> None:
    recorded = await record(session_history, session_history_recorder)
    model = replay_model(recorded, framework="openai-agents")
    session = HistorySession("replayed", session_history, agent_name="support")
    for text in ("Where are A7 and B2?", "Thanks!"):
        if how == "run":
            await Runner.run(support(model), text, session=session, run_config=NO_TRACING)
        else:
            streamed = Runner.run_streamed(
                support(model), text, session=session, run_config=NO_TRACING
            )
            async for _event in streamed.stream_events():
                pass
    assert model.remaining_steps == 1  # only the step that refuses a call past the recording
    replayed = await session_history.load_session("replayed")
    assert replayed is not None
    assert normalized_transcript(replayed) == normalized_transcript(recorded)
    assert [m.reasoning for m in replayed.messages if m.reasoning] == ["Look both orders up."]
    items = await session.get_items()
    assert [i.get("call_id") for i in items if i.get("type") == "function_call"] == [
        "call_a",
        "call_b",
    ]


async def test_a_changed_tool_result_is_a_difference(
    session_history: SessionHistory, session_history_recorder: HookRecorder
) -> None:
    recorded = await record(session_history, session_history_recorder)

    @function_tool(name_override="order_status")
    def changed(order_id: str) -> str:
        """The shipping status of an order."""
        return f"order {order_id}: lost"

    agent = Agent(name="support", model=replay_model(recorded, framework="openai-agents"))
    agent.tools = [changed]
    with pytest.raises(AssertionError) as caught:
        await Runner.run(agent, "Where are A7 and B2?", run_config=NO_TRACING)
    message = str(caught.value)
    assert "model call 2 was sent an input that differs from the recording's at message 4" in (
        message
    )
    assert "- 4. tool (order_status): 'order A7: shipped'" in message
    assert "+ 4. tool (order_status): 'order A7: lost'" in message
