"""Users' tests of the agent-testing helpers, run by test_agent_helpers.py with pytester: the
ones named ``test_pass_*`` pass, the ones named ``test_fail_*`` fail with the output that file
checks. ``pytestmark`` is set per async plugin by the runner."""

import re

from agents import Agent as OpenAIAgent
from agents import RunConfig, Runner
from langchain.agents import create_agent
from langchain_core.tools import tool
from pydantic_ai import Agent as PydanticAgent

from pytest_session_history import (
    assert_tool_calls,
    assert_usage,
    normalized_transcript,
    replay_model,
)
from session_history import ChatMessage, Session, ToolCall, Usage


def recording(call_id="c-17", when=None, answer="Rain, take an umbrella.", usage=True):
    """The same conversation, as two recorders would keep it: its ids and times are theirs."""
    call = ToolCall(id=call_id, name="forecast", arguments={"city": "Lisbon", "days": 2})
    return Session(
        session_id=f"s-{call_id}",
        agent_name="weather",
        model="gpt-5",
        usage=Usage(input_tokens=1200, output_tokens=300, total_tokens=1500) if usage else None,
        messages=[
            ChatMessage(
                role="user", content="Umbrella in Lisbon?", id=f"u-{call_id}", timestamp=when
            ),
            ChatMessage(
                role="assistant",
                tool_calls=[call],
                id=f"a-{call_id}",
                provider_response_id=f"r-{call_id}",
            ),
            ChatMessage(role="tool", tool_call_id=call_id, content='{"rain": 0.7}', timestamp=when),
            ChatMessage(
                role="assistant", content=answer, reasoning="70% is likely.", id=f"b-{call_id}"
            ),
        ],
    )


def calls(*names):
    """A session whose assistant made these calls (``name`` or ``(name, arguments)``)."""
    made = [n if isinstance(n, tuple) else (n, {}) for n in names]
    return [
        ChatMessage(role="assistant", tool_calls=[ToolCall(id=f"c{i}", name=n, arguments=a)])
        for i, (n, a) in enumerate(made)
    ]


def test_pass_transcripts_ignore_ids_and_times_but_not_words():
    first = normalized_transcript(recording("c-1"))
    assert first == normalized_transcript(recording("toolu_9", when="2026-05-01T10:00:00Z"))
    assert first != normalized_transcript(recording("c-1", answer="Rain, take a coat."))
    assert first[1]["tool_calls"][0]["id"] == first[2]["tool_call_id"] == "call_1"
    assert normalized_transcript(recording(), usage=True)[-1] == {
        "usage": {"input_tokens": 1200, "output_tokens": 300, "total_tokens": 1500}
    }


def test_pass_tool_calls_in_every_mode():
    made = calls(("search", {"q": "lisbon rain", "n": 3}), ("fetch", {"url": "https://x.pt/a"}))
    assert_tool_calls(made, [("search", {"q": re.compile("rain"), "n": ...}), ("fetch", None)])
    assert_tool_calls(made, [("fetch", ...), "search"], mode="unordered")
    assert_tool_calls(made, ["fetch", "search", "book"], mode="subset")
    assert_tool_calls(made, [("fetch", {"url": lambda u: u.startswith("https:")})], mode="superset")
    assert_tool_calls(made, [("search", lambda args: args["n"] > 2), ("fetch", {"url": str})])


def test_fail_strict_order():
    assert_tool_calls(calls("search", "fetch"), ["fetch", "search"])


def test_fail_unordered_extra_call():
    made = calls(("search", {"q": "a"}), ("search", {"q": "b"}), ("fetch", {"url": "u"}))
    assert_tool_calls(made, [("search", {"q": re.compile(".")}), "fetch"], mode="unordered")


def test_fail_subset_unexpected_call():
    assert_tool_calls(calls("search", "delete_all"), ["search", "fetch"], mode="subset")


def test_fail_superset_missing_call():
    made = calls(("search", {"q": "porto"}))
    assert_tool_calls(made, [("search", {"q": re.compile("lisbon")})], mode="superset")


def test_pass_usage_within_budget():
    assert_usage(recording(), max_input_tokens=1200, max_total_tokens=2000)


def test_fail_usage_over_budget():
    assert_usage(recording(), max_input_tokens=1000, max_total_tokens=2000)


def test_fail_usage_not_recorded():
    assert_usage(recording(usage=False), max_total_tokens=2000)


async def test_pass_the_recorder_finds_the_session(session_history, session_history_recorder):
    await session_history.create_session(recording("run-x"))
    assert session_history_recorder.session_ids == ["s-run-x"]
    assert (await session_history_recorder.aget_session()).messages[
        0
    ].content == "Umbrella in Lisbon?"
    assert session_history_recorder.session.session_id == "s-run-x"


async def test_fail_the_recorder_saw_two(session_history, session_history_recorder):
    await session_history.create_session(recording("one"))
    await session_history.create_session(recording("two"))
    await session_history_recorder.aget_session()


@tool
def forecast(city: str, days: int) -> str:
    """The forecast."""
    return '{"rain": 0.8}'  # not what was recorded


async def test_fail_replay_langchain_a_different_question():
    model = replay_model(recording(), framework="langchain")
    await create_agent(model, [forecast]).ainvoke({"messages": [("user", "Umbrella in Porto?")]})


async def test_fail_replay_langchain_a_different_tool_result():
    model = replay_model(recording(), framework="langchain")
    await create_agent(model, [forecast]).ainvoke({"messages": [("user", "Umbrella in Lisbon?")]})


async def test_fail_replay_langchain_past_the_recording():
    short = recording().model_copy(update={"messages": recording().messages[:2]})
    agent = create_agent(replay_model(short, framework="langchain"), [forecast])
    await agent.ainvoke({"messages": [("user", "Umbrella in Lisbon?")]})


async def test_fail_replay_openai_agents_a_different_question():
    agent = OpenAIAgent(name="weather", model=replay_model(recording(), framework="openai-agents"))
    await Runner.run(agent, "Umbrella in Porto?", run_config=RunConfig(tracing_disabled=True))


async def test_fail_replay_pydantic_ai_a_different_question():
    await PydanticAgent(replay_model(recording(), framework="pydantic-ai")).run(
        "Umbrella in Porto?"
    )
