"""A hypothesis round trip: generated message lists come back byte for byte, and popping
messages from the end gives back the messages without the parts they read."""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic_ai.messages import (
    BinaryContent,
    FilePart,
    ImageUrl,
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    NativeToolCallPart,
    NativeToolReturnPart,
    RetryFeedbackPart,
    RetryInfo,
    SystemPromptPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.usage import RequestUsage

from pydantic_ai_session_history import PydanticAIHistory
from session_history import ChatMessage, SyncSessionHistory

dump = ModelMessagesTypeAdapter.dump_json

# Text as agents produce it, without NUL (PostgreSQL cannot store it in text or jsonb).
text = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=40)
names = st.from_regex(r"[a-z_]{1,12}", fullmatch=True)
ids = st.from_regex(r"[A-Za-z0-9_-]{1,16}", fullmatch=True)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(text, json_values, max_size=4)

user_content = st.one_of(
    text,
    st.builds(ImageUrl, url=st.from_regex(r"https://example\.com/[a-z]{1,8}\.png", fullmatch=True)),
    st.builds(BinaryContent, st.binary(max_size=32), media_type=st.just("image/png")),
)
request_parts = st.one_of(
    st.builds(SystemPromptPart, text, timestamp=times),
    st.builds(UserPromptPart, text | st.lists(user_content, max_size=3), timestamp=times),
    st.builds(
        ToolReturnPart,
        names,
        json_values,
        ids,
        timestamp=times,
        outcome=st.sampled_from(["success", "failed", "denied"]),
    ),
    st.builds(
        ToolReturnPart,
        names,
        text,
        ids,
        timestamp=times,
        outcome=st.just("retried"),
        retry=st.builds(RetryInfo, st.just("model_retry")),
    ),
    st.builds(
        RetryFeedbackPart,
        text.filter(bool),
        retry=st.builds(RetryInfo, st.sampled_from(["model_retry", "no_output"])),
        timestamp=times,
    ),
)
response_parts = st.one_of(
    st.builds(TextPart, text),
    st.builds(ThinkingPart, text, signature=st.none() | text, provider_name=st.just("anthropic")),
    st.builds(ToolCallPart, names, json_objects | json_objects.map(json.dumps), ids),
    st.builds(NativeToolCallPart, names, json_objects, ids, provider_name=st.just("openai")),
    st.builds(
        NativeToolReturnPart,
        names,
        json_values,
        ids,
        provider_name=st.just("openai"),
        timestamp=times,
    ),
    st.builds(
        FilePart, st.builds(BinaryContent, st.binary(max_size=16), media_type=st.just("image/png"))
    ),
)
requests = st.builds(
    ModelRequest,
    st.lists(request_parts, max_size=4),
    timestamp=st.none() | times,
    instructions=st.none() | st.sampled_from(["Be terse.", "Be kind."]),
    run_id=st.none() | ids,
    metadata=st.none() | json_objects,
)
responses = st.builds(
    ModelResponse,
    st.lists(response_parts, max_size=4),
    usage=st.builds(
        RequestUsage,
        input_tokens=st.integers(0, 10**6),
        output_tokens=st.integers(0, 10**6),
        details=st.dictionaries(names, st.integers(0, 100), max_size=2),
    ),
    model_name=st.none() | names,
    timestamp=times,
    provider_name=st.none() | names,
    provider_details=st.none() | json_objects,
    provider_response_id=st.none() | ids,
    run_id=st.none() | ids,
)
conversations = st.lists(requests | responses, min_size=1, max_size=6)


_session_ids = itertools.count()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(messages=conversations, pops=st.integers(0, 4))
def test_generated_conversations_round_trip(
    session_history_sync: SyncSessionHistory, messages: list[ModelMessage], pops: int
) -> None:
    session_id = f"h{next(_session_ids)}"
    pai = PydanticAIHistory(session_history_sync)
    pai.append_sync(session_id, messages[:1])
    pai.append_sync(session_id, messages[1:])
    assert dump(pai.load_sync(session_id)) == dump(messages)

    # Popping stored messages from the end removes the parts they read, and nothing else.
    stored = session_history_sync.load_messages(session_id)
    session_history_sync.pop_messages(session_id, pops)
    expected = _without_last_readings(messages, stored, pops)
    assert dump(pai.load_sync(session_id)) == dump(expected)


def _without_last_readings(
    messages: list[ModelMessage], stored: list[ChatMessage], pops: int
) -> list[ModelMessage]:
    """What popping ``pops`` stored messages should leave, worked out from the stored layout:
    each message keeps the parts (and instructions, ``None``) whose stored messages are left."""
    readings: list[tuple[int, int | None]] = []  # (message index, part) per stored message
    for chat in stored:
        data = chat.metadata["pydantic_ai"]
        assert isinstance(data, dict)
        if "message" in data:
            index = len({i for i, _ in readings})
            parts = data["parts"]
            assert isinstance(parts, list)
            readings += [(index, part) for part in parts]  # type: ignore[misc]
    assert len(readings) == len(stored)
    left = readings[: max(len(readings) - pops, 0)]
    result: list[ModelMessage] = []
    for index, message in enumerate(messages):
        kept = {part for i, part in left if i == index}
        if not kept:
            continue
        gone = {part for i, part in readings if i == index} - kept
        if not gone:
            result.append(message)
            continue
        changes: dict[str, Any] = {
            "parts": [p for i, p in enumerate(message.parts) if i not in gone]
        }
        if None in gone:
            changes["instructions"] = None
        result.append(dataclasses.replace(message, **changes))
    return result
