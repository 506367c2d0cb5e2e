"""What the conversation-store tests share: a scripted agent, and a second store on the same
database (its own connection, as another process would have)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic_ai import Agent, DeferredToolRequests
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from pydantic_ai.usage import RequestUsage

from pydantic_ai_session_history import HistoryConversationStore
from session_history import HistoryConfig, SessionHistory


def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Asks for the forecast when the prompt names a city ("... in <city>"), answers with a
    tool's result, and otherwise echoes the prompt; usage grows with the history."""
    usage = RequestUsage(input_tokens=10 * len(messages), output_tokens=3)
    last = messages[-1]
    assert isinstance(last, ModelRequest)
    for part in last.parts:
        if isinstance(part, ToolReturnPart):
            return ModelResponse(parts=[TextPart(f"Forecast: {part.content}.")], usage=usage)
    prompt = next((p for p in last.parts if isinstance(p, UserPromptPart)), None)
    text = str(prompt.content) if prompt is not None else ""
    if " in " in text:
        city = text.split(" in ")[-1].rstrip("?")
        return ModelResponse(parts=[ToolCallPart("forecast", {"city": city})], usage=usage)
    if text.startswith("delete "):
        return ModelResponse(parts=[ToolCallPart("delete_file", {"path": text[7:]})], usage=usage)
    return ModelResponse(parts=[TextPart(f"You said: {text}")], usage=usage)


async def stream_reply(
    messages: list[ModelMessage], info: AgentInfo
) -> AsyncIterator[str | DeltaToolCalls]:
    """``reply``, streamed (as the UI adapters run the agent)."""
    for index, part in enumerate(reply(messages, info).parts):
        if isinstance(part, TextPart):
            yield part.content
        elif isinstance(part, ToolCallPart):
            yield {index: DeltaToolCall(name=part.tool_name, json_args=json.dumps(part.args))}


def weather_agent() -> Agent[None, str | DeferredToolRequests]:
    agent: Agent[None, str | DeferredToolRequests] = Agent(
        FunctionModel(reply, stream_function=stream_reply),
        instructions="Be terse.",
        output_type=[str, DeferredToolRequests],
        name="weather",
    )

    @agent.tool_plain
    def forecast(city: str) -> str:
        """The forecast for a city."""
        return f"rain in {city}"

    @agent.tool_plain(requires_approval=True)
    def delete_file(path: str) -> str:
        """Delete a file (needs approval)."""
        return f"deleted {path}"

    return agent


@asynccontextmanager
async def another_store(config: HistoryConfig) -> AsyncIterator[HistoryConversationStore]:
    """A store on the same database through a connection of its own."""
    async with SessionHistory(config) as history:
        yield HistoryConversationStore(history)
