"""pydantic-ai messages with every part kind the integration must keep losslessly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic_ai.messages import (
    AudioUrl,
    BinaryContent,
    DocumentUrl,
    FilePart,
    ImageUrl,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    NativeToolCallPart,
    NativeToolReturnPart,
    RetryFeedbackPart,
    RetryInfo,
    SystemPromptPart,
    TextContent,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
    VideoUrl,
)
from pydantic_ai.usage import RequestUsage

T0 = datetime(2026, 11, 30, 9, 0, 0, 123456, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(range(256))


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def every_message() -> list[ModelMessage]:
    """One conversation holding every part kind, with ids, run ids, provider details, usage."""
    return [
        ModelRequest(
            parts=[
                SystemPromptPart("You are terse.", timestamp=at(0), dynamic_ref="rules"),
                UserPromptPart(
                    [
                        "Weather in Zürich? 天気",
                        ImageUrl(url="https://example.com/sky.png"),
                        AudioUrl(url="https://example.com/voice.mp3"),
                        DocumentUrl(url="https://example.com/report.pdf"),
                        VideoUrl(url="https://example.com/clip.mp4"),
                        BinaryContent(PNG, media_type="image/png"),
                        BinaryContent(b"RIFF\x00\x00WAVE", media_type="audio/wav"),
                        TextContent("and this note", metadata={"source": "ui", "n": 1.5}),
                    ],
                    timestamp=at(1),
                ),
            ],
            instructions="Answer in one sentence.",
            timestamp=at(1),
            run_id="run-1",
            conversation_id="conv-1",
            metadata={"user": "ana", "tags": ["a", "b"]},
        ),
        ModelResponse(
            parts=[
                ThinkingPart(
                    "Need the weather tool.",
                    id="th-1",
                    signature="c2lnbmF0dXJl==",
                    provider_name="anthropic",
                ),
                TextPart("Checking.", id="txt-1", provider_name="anthropic"),
                ToolCallPart("weather", {"city": "Zürich", "days": 2}, "call-1"),
                ToolCallPart("clock", '{"tz": "Europe/Zurich"}', "call-2"),
                NativeToolCallPart(
                    "web_search", {"query": "Zürich weather"}, "ws-1", provider_name="anthropic"
                ),
                NativeToolReturnPart(
                    "web_search",
                    {"results": [{"title": "MeteoSwiss", "score": 0.93}]},
                    "ws-1",
                    provider_name="anthropic",
                    timestamp=at(2),
                ),
            ],
            usage=RequestUsage(
                input_tokens=42, output_tokens=12, cache_read_tokens=4, details={"reasoning": 3}
            ),
            model_name="claude-test-1",
            timestamp=at(2),
            provider_name="anthropic",
            provider_details={"stop_sequence": None, "latency": 0.25},
            provider_response_id="resp-9",
            finish_reason="tool_call",
            run_id="run-1",
            conversation_id="conv-1",
        ),
        ModelRequest(
            parts=[
                ToolReturnPart(
                    "weather",
                    {"temp": 18.5, "sky": ["cloudy", None, True, 3], "deep": {"a": {"b": []}}},
                    "call-1",
                    timestamp=at(3),
                    metadata={"cached": False},
                ),
                ToolReturnPart(
                    "clock",
                    "Use an IANA zone name.",
                    "call-2",
                    timestamp=at(3),
                    outcome="retried",
                    retry=RetryInfo(cause="model_retry", attempt=1, max_retries=2),
                ),
            ],
            instructions="Answer in one sentence.",
            timestamp=at(3),
            run_id="run-1",
            conversation_id="conv-1",
        ),
        ModelResponse(
            parts=[TextPart('{"city": 1}')],
            usage=RequestUsage(input_tokens=60, output_tokens=5),
            model_name="claude-test-1",
            timestamp=at(4),
            run_id="run-1",
        ),
        ModelRequest(
            parts=[
                RetryFeedbackPart(
                    [
                        {
                            "type": "string_type",
                            "loc": ("city",),
                            "msg": "Input should be a valid string",
                            "input": 1,
                        }
                    ],
                    retry=RetryInfo(cause="validation_error", attempt=1, max_retries=1),
                    timestamp=at(5),
                )
            ],
            instructions="Answer in one sentence.",
            timestamp=at(5),
            run_id="run-1",
        ),
        ModelResponse(
            parts=[
                TextPart("Mild, 18.5 °C. Ünïcødé ✓ — 🌦️"),
                FilePart(BinaryContent(PNG, media_type="image/png")),
            ],
            usage=RequestUsage(input_tokens=70, output_tokens=9),
            model_name="claude-test-1",
            timestamp=at(6),
            run_id="run-1",
            finish_reason="stop",
        ),
    ]
