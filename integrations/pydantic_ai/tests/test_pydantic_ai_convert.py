"""Storage: lossless, each message stored once, each part an ordinary message, and messages
written elsewhere read back as pydantic-ai messages."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from pai_samples import at, every_message
from pydantic_ai import PydanticAIDeprecationWarning
from pydantic_ai.messages import (
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    ModelSettingsDeltaPart,
    RetryFeedbackPart,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

import pydantic_ai_session_history
from langchain_session_history import SessionChatMessageHistory
from pydantic_ai_session_history import PYDANTIC_AI_KEY, PydanticAIHistory, to_chat_messages
from session_history import (
    ChatMessage,
    InvalidQueryError,
    Role,
    Session,
    SessionHistory,
    ToolCall,
    Usage,
)

dump = ModelMessagesTypeAdapter.dump_json


async def test_every_part_kind_round_trips_byte_for_byte(pai: PydanticAIHistory) -> None:
    original = every_message()
    await pai.append("s", original)
    assert dump(await pai.load("s")) == dump(original)


async def test_numbers_come_back_exactly(pai: PydanticAIHistory) -> None:
    # PostgreSQL's jsonb would turn 2.370152117863423e16 into 23701521178634230, 1e308 into
    # a 309-digit integer and -0.0 into 0: the verbatim form must not pass through it as JSON.
    content = {
        "big": 2.370152117863423e16,
        "huge": 1e308,
        "tiny": 5e-324,
        "negative_zero": -0.0,
        "third": 1 / 3,
        "int": 12345678901234567890,
    }
    original = [
        ModelRequest(parts=[ToolReturnPart("measure", content, "c1", timestamp=at(0))]),
        ModelResponse(parts=[ToolCallPart("measure", {"scale": 2.370152117863423e16}, "c2")]),
    ]
    await pai.append("s", original)
    loaded = await pai.load("s")
    assert dump(loaded) == dump(original)
    assert b"2.370152117863423e+16" in dump(loaded)  # as pydantic writes it


async def test_each_message_is_stored_once_and_each_part_reads_as_a_message(
    pai: PydanticAIHistory, session_history: SessionHistory
) -> None:
    original = every_message()
    await pai.append("s", original)
    stored = await session_history.load_messages("s")
    heads = [m for m in stored if "message" in m.metadata[PYDANTIC_AI_KEY]]
    assert [json.loads(str(h.metadata[PYDANTIC_AI_KEY]["message"])) for h in heads] == [
        json.loads(dump([m]))[0] for m in original
    ]
    # The verbatim texts add up to the adapter's own dump: nothing is kept twice.
    verbatim = b"[" + b",".join(str(h.metadata[PYDANTIC_AI_KEY]["message"]).encode() for h in heads)
    assert verbatim + b"]" == dump(original)
    assert [(m.role, m.content) for m in stored[:3]] == [
        (Role.SYSTEM, "Answer in one sentence."),  # the instructions
        (Role.SYSTEM, "You are terse."),
        (Role.USER, "Weather in Zürich? 天気\nand this note"),  # media stay in the verbatim form
    ]
    thinking, text, weather, clock, search, search_result = stored[3:9]
    assert thinking.reasoning == "Need the weather tool." and thinking.content is None
    assert (text.role, text.content, text.provider_response_id) == (
        Role.ASSISTANT,
        "Checking.",
        "resp-9",
    )
    assert weather.tool_calls == [
        ToolCall(id="call-1", name="weather", arguments={"city": "Zürich", "days": 2})
    ]
    assert clock.tool_calls == [
        ToolCall(id="call-2", name="clock", arguments={"tz": "Europe/Zurich"})
    ]
    assert search.tool_calls == [
        ToolCall(id="ws-1", name="web_search", arguments={"query": "Zürich weather"})
    ]
    assert (search_result.role, search_result.tool_call_id) == (Role.TOOL, "ws-1")
    result, retry, answer, feedback, final, file = stored[9:]
    assert (result.role, result.name, result.tool_call_id, result.status) == (
        Role.TOOL,
        "weather",
        "call-1",
        "success",
    )
    assert json.loads(result.content or "") == {
        "temp": 18.5,
        "sky": ["cloudy", None, True, 3],
        "deep": {"a": {"b": []}},
    }
    assert (retry.role, retry.status, retry.content) == (
        Role.TOOL,
        "retried",
        "Use an IANA zone name.",
    )
    assert answer.content == '{"city": 1}'
    assert feedback.role is Role.USER and "Input should be a valid string" in (
        feedback.content or ""
    )
    assert final.content == "Mild, 18.5 °C. Ünïcødé ✓ — 🌦️"
    assert (file.role, file.content) == (Role.ASSISTANT, None)
    # Instructions repeated on every request of a run are shown once.
    assert [m.content for m in stored if m.role is Role.SYSTEM] == [
        "Answer in one sentence.",
        "You are terse.",
    ]


async def test_usage_defaults_to_what_the_responses_report(
    pai: PydanticAIHistory, session_history: SessionHistory
) -> None:
    await pai.append("s", every_message())
    session = await session_history.load_session("s")
    assert session is not None
    assert (session.agent_name, session.model) == ("weather", "claude-test-1")
    assert session.usage == Usage(
        input_tokens=172,
        output_tokens=26,
        total_tokens=198,
        requests=3,
        cache_read_tokens=4,
        details={"reasoning": 3},
    )


async def test_core_api_messages_load_as_the_messages_their_roles_imply(
    pai: PydanticAIHistory, session_history: SessionHistory
) -> None:
    await session_history.create_session(
        Session(
            session_id="core",
            agent_name="a",
            model="m",
            messages=[
                ChatMessage(role="system", content="sys", timestamp=at(0)),
                ChatMessage(role="user", content="hi", timestamp=at(1)),
                ChatMessage(
                    role="assistant",
                    reasoning="think",
                    tool_calls=[ToolCall(id="c1", name="f", arguments={"x": 1})],
                    provider_response_id="resp-1",
                    timestamp=at(2),
                ),
                ChatMessage(role="tool", tool_call_id="c1", content="done", status="error"),
                ChatMessage(role="assistant", content="bye", timestamp=at(3)),
            ],
        )
    )
    request, call, result, answer = await pai.load("core")
    assert isinstance(request, ModelRequest)
    system, user = request.parts
    assert isinstance(system, SystemPromptPart) and system.content == "sys"
    assert isinstance(user, UserPromptPart) and (user.content, user.timestamp) == ("hi", at(1))
    assert isinstance(call, ModelResponse)
    assert call.provider_response_id == "resp-1" and call.timestamp == at(2)
    thinking, tool_call = call.parts
    assert isinstance(thinking, ThinkingPart) and thinking.content == "think"
    assert isinstance(tool_call, ToolCallPart)
    assert (tool_call.tool_name, tool_call.args, tool_call.tool_call_id) == ("f", {"x": 1}, "c1")
    assert isinstance(result, ModelRequest)
    (tool_return,) = result.parts
    assert isinstance(tool_return, ToolReturnPart)
    # The tool's name comes from the call it answers; LangChain's "error" is pydantic-ai's "failed".
    assert (tool_return.tool_name, tool_return.content, tool_return.outcome) == (
        "f",
        "done",
        "failed",
    )
    assert isinstance(answer, ModelResponse) and answer.parts == [TextPart("bye")]


async def test_a_conversation_started_by_langchain_continues_in_pydantic_ai(
    pai: PydanticAIHistory, session_history: SessionHistory
) -> None:
    await SessionChatMessageHistory("lc", session_history).aadd_messages(
        [
            SystemMessage("Be brief."),
            HumanMessage("Weather?"),
            AIMessage("", tool_calls=[{"name": "weather", "args": {"city": "Oslo"}, "id": "t1"}]),
            ToolMessage("rain", tool_call_id="t1"),
            AIMessage("Rain."),
        ]
    )
    before = await pai.load("lc")
    assert [type(m) for m in before] == [ModelRequest, ModelResponse, ModelRequest, ModelResponse]
    await pai.append("lc", [ModelRequest(parts=[UserPromptPart("Tomorrow?")])])
    after = await pai.load("lc")
    assert dump(after[:4]) == dump(before)
    assert isinstance(after[4], ModelRequest) and after[4].parts[0] == UserPromptPart(
        "Tomorrow?", timestamp=after[4].parts[0].timestamp
    )


async def test_popping_a_parts_message_drops_that_part_from_its_message(
    pai: PydanticAIHistory, session_history: SessionHistory
) -> None:
    response = ModelResponse(
        parts=[ThinkingPart("hmm"), TextPart("one"), TextPart("two")], timestamp=at(1)
    )
    request = ModelRequest(parts=[UserPromptPart("q", timestamp=at(0))], instructions="Be kind.")
    await pai.append("s", [request, response])
    (popped,) = await session_history.pop_messages("s")
    assert popped.content == "two"
    loaded_request, loaded_response = await pai.load("s")
    assert dump([loaded_request]) == dump([request])
    assert isinstance(loaded_response, ModelResponse)
    assert loaded_response.parts == [ThinkingPart("hmm"), TextPart("one")]
    assert loaded_response.timestamp == at(1)
    await session_history.pop_messages("s", 3)  # the response's last two, and the prompt
    (left,) = await pai.load("s")
    assert isinstance(left, ModelRequest) and (left.parts, left.instructions) == ([], "Be kind.")
    await session_history.pop_messages("s")
    assert await pai.load("s") == []

    # Instructions read after leading tool results: popping their message drops them too.
    results = ModelRequest(
        parts=[
            ToolReturnPart("t", "r", "c1", timestamp=at(2)),
            UserPromptPart("next", timestamp=at(2)),
        ],
        instructions="Be brief.",
    )
    await pai.append("s", [results])
    assert [m.role for m in await session_history.load_messages("s")] == [
        Role.TOOL,
        Role.SYSTEM,
        Role.USER,
    ]
    await session_history.pop_messages("s")
    (left,) = await pai.load("s")
    assert isinstance(left, ModelRequest) and left.instructions == "Be brief."
    assert [p.part_kind for p in left.parts] == ["tool-return"]
    await session_history.pop_messages("s")
    (left,) = await pai.load("s")
    assert isinstance(left, ModelRequest) and left.instructions is None
    assert [p.part_kind for p in left.parts] == ["tool-return"]


async def test_a_message_with_no_readable_part_is_carried_by_one_message(
    pai: PydanticAIHistory, session_history: SessionHistory
) -> None:
    original = [
        ModelRequest(parts=[ModelSettingsDeltaPart(settings={"thinking": "high"})]),
        ModelResponse(parts=[]),
    ]
    await pai.append("s", original)
    stored = await session_history.load_messages("s")
    assert [(m.role, m.content) for m in stored] == [(Role.SYSTEM, None), (Role.ASSISTANT, None)]
    assert dump(await pai.load("s")) == dump(original)


async def test_bad_input_is_refused_and_nothing_is_written(
    pai: PydanticAIHistory, session_history: SessionHistory
) -> None:
    with pytest.raises(InvalidQueryError, match=r"item 1 is a str, not a pydantic-ai"):
        await pai.append("s", [ModelRequest(parts=[UserPromptPart("hi")]), "hello"])  # type: ignore[list-item]
    with pytest.raises(InvalidQueryError, match=r"item 0 cannot be written as JSON"):
        await pai.append("s", [ModelRequest(parts=[ToolReturnPart("t", object(), "c")])])
    assert await session_history.load_session("s") is None


async def test_stored_data_this_version_cannot_read_is_a_clear_error(
    pai: PydanticAIHistory, session_history: SessionHistory
) -> None:
    await pai.append("s", [ModelResponse(parts=[TextPart("fine")])])
    future = {"parts": [{"part_kind": "hologram"}], "kind": "response"}
    await session_history.append_messages(
        "s",
        [
            ChatMessage(
                role="assistant",
                metadata={PYDANTIC_AI_KEY: {"message": json.dumps(future), "parts": [0]}},
            )
        ],
    )
    with pytest.raises(InvalidQueryError, match=r"message 1 .* cannot be read by this pydantic-ai"):
        await pai.load("s")
    assert len(await session_history.load_messages("s")) == 2  # left as it was


def test_instructions_are_shown_where_they_change() -> None:
    first = ModelRequest(parts=[UserPromptPart("q")], instructions="A")
    tool = ModelRequest(parts=[ToolReturnPart("t", "r", "c")], instructions="B")
    same = ModelRequest(parts=[UserPromptPart("again")], instructions="B")
    messages = to_chat_messages([first, ModelResponse(parts=[]), tool, same])
    assert [(m.role, m.content) for m in messages] == [
        (Role.SYSTEM, "A"),
        (Role.USER, "q"),
        (Role.ASSISTANT, None),
        (Role.TOOL, "r"),  # results first, right after the call they answer
        (Role.SYSTEM, "B"),
        (Role.USER, "again"),
    ]


def test_the_package_exports() -> None:
    # In ruff's (isort's) order: constants, classes, then functions.
    names = pydantic_ai_session_history.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    assert set(pydantic_ai_session_history.__all__) == {
        "HistoryConversationStore",
        "PYDANTIC_AI_KEY",
        "PydanticAIHistory",
        "RunNotRecordedWarning",
        "from_chat_messages",
        "to_chat_messages",
        "usage_of",
    }
    for name in pydantic_ai_session_history.__all__:
        assert getattr(pydantic_ai_session_history, name) is not None


async def test_a_deprecated_retry_prompt_reads_as_pydantic_ai_means_it(
    pai: PydanticAIHistory, session_history: SessionHistory
) -> None:
    with pytest.warns(PydanticAIDeprecationWarning):
        for_tool = RetryPromptPart("Use a city name.", tool_name="weather", tool_call_id="c1")
    with pytest.warns(PydanticAIDeprecationWarning):
        for_output = RetryPromptPart("Answer in JSON.")
    await pai.append("s", [ModelRequest(parts=[for_tool, for_output])])
    tool, user = await session_history.load_messages("s")
    assert (tool.role, tool.tool_call_id, tool.status) == (Role.TOOL, "c1", "retried")
    assert user.role is Role.USER and "Answer in JSON." in (user.content or "")
    # Loaded as pydantic-ai itself loads a stored retry prompt: as the part it always meant.
    (request,) = await pai.load("s")
    assert isinstance(request, ModelRequest)
    retried, feedback = request.parts
    assert isinstance(retried, ToolReturnPart) and retried.outcome == "retried"
    assert isinstance(feedback, RetryFeedbackPart) and feedback.content == "Answer in JSON."


async def test_a_disabled_history_stores_nothing_and_loads_nothing() -> None:
    pai = PydanticAIHistory(SessionHistory())
    await pai.append("s", every_message())
    assert await pai.load("s") == []


async def test_a_session_written_here_loads_from_its_metadata_alone(
    pai: PydanticAIHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every message carries its verbatim form: load reads just that (no ChatMessage built);
    one message written otherwise and it reads the whole messages."""
    await pai.append("s", every_message())
    expected = ModelMessagesTypeAdapter.dump_json(every_message())

    async def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("load read the whole messages")

    with monkeypatch.context() as patched:
        patched.setattr(pai.history, "load_messages", refuse)
        assert ModelMessagesTypeAdapter.dump_json(await pai.load("s")) == expected
    await pai.history.append_messages("s", [ChatMessage(role="user", content="by hand")])
    loaded = await pai.load("s")
    assert ModelMessagesTypeAdapter.dump_json(loaded[: len(every_message())]) == expected
    assert loaded[-1].parts[0].content == "by hand"  # type: ignore[union-attr]
