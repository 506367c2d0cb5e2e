"""Every kind of message langchain-core serialises, with every field it can carry; and a tool
and a fake chat model for the agent tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


class ToolCallingFake(GenericFakeChatModel):
    """GenericFakeChatModel has no bind_tools; an agent needs one."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingFake:
        return self


def every_message() -> list[BaseMessage]:
    return [
        SystemMessage("You are terse.", id="sys-1", name="rules"),
        HumanMessage("Weather in Zürich? 天気", id="h-1", name="ana", additional_kwargs={"x": 1}),
        AIMessage(
            "",
            id="ai-1",
            name="bot",
            tool_calls=[
                {
                    "name": "weather",
                    "args": {"city": "Zürich"},
                    "id": "call-1",
                    "type": "tool_call",
                },
                {"name": "clock", "args": {}, "id": None, "type": "tool_call"},
            ],
            invalid_tool_calls=[
                {
                    "name": "bad",
                    "args": "{oops",
                    "id": "call-x",
                    "error": "JSON",
                    "type": "invalid_tool_call",
                }
            ],
            usage_metadata={
                "input_tokens": 12,
                "output_tokens": 7,
                "total_tokens": 19,
                "input_token_details": {"cache_read": 4},
                "output_token_details": {"reasoning": 3},
            },
            response_metadata={
                "model_name": "gpt-5",
                "finish_reason": "tool_calls",
                "id": "resp-9",
            },
            additional_kwargs={"reasoning_content": "Need the weather tool.", "refusal": None},
        ),
        ToolMessage(
            "18 °C, sunny",
            tool_call_id="call-1",
            name="weather",
            id="t-1",
            status="success",
            artifact={"raw": [1, 2, 3], "source": "meteo"},
        ),
        ToolMessage("timeout", tool_call_id="call-2", status="error"),
        AIMessage(
            [
                {"type": "text", "text": "It is "},
                {"type": "text", "text": "18 °C."},
                {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},
            ],
            id="ai-2",
            usage_metadata={"input_tokens": 30, "output_tokens": 5, "total_tokens": 35},
        ),
        ChatMessage("Be more precise.", role="critic", id="c-1"),
        ChatMessage("as the user", role="user"),
        FunctionMessage("42", name="legacy_fn"),
        HumanMessage([{"type": "text", "text": "and tomorrow?"}, "plain string block"]),
        AIMessage("Ünïcødé: ✓ — 🌦️", additional_kwargs={"reasoning": {"id": "rs_1", "summary": []}}),
    ]
