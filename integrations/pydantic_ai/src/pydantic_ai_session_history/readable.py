"""Each part of a pydantic-ai message read as one ordinary ``ChatMessage``.

This is what the CLI shows, search finds, exports carry and other integrations read; it is not
what pydantic-ai loads back (that is the verbatim message, see :mod:`.convert`). The mapping:

=================================================  =============================================
pydantic-ai                                        ``ChatMessage``
=================================================  =============================================
``ModelRequest.instructions``                      system (when they change within one append)
``SystemPromptPart``                               system
``UserPromptPart``                                 user; its text items as ``content``
``ToolReturnPart`` (any ``outcome``)               tool, ``tool_call_id``, ``name`` = tool,
                                                   ``status`` = outcome (``"retried"`` for a retry)
``RetryFeedbackPart`` (retry with no tool call)    user; system for the ``"no_output"`` cause
``InstructionDeltaPart``                           system (the replacement text)
``CompactionPart``                                 user in a request, assistant in a response
``SpeechPart``                                     user or assistant, the transcript
``TextPart``                                       assistant ``content``
``ThinkingPart``                                   assistant ``reasoning``
``ToolCallPart``, ``NativeToolCallPart``           assistant with one ``ToolCall``
``NativeToolReturnPart``                           tool, as a tool return
``FilePart``                                       assistant without content
other parts (tool, capability and settings         no message of their own
deltas, instruction baselines)
=================================================  =============================================

Files and media (images, audio, documents, binary content) are not copied into the ordinary
fields: they are stored once, in the verbatim message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pydantic_core
from pydantic_ai.messages import (
    BaseToolCallPart,
    BaseToolReturnPart,
    CompactionPart,
    FilePart,
    InstructionDeltaPart,
    ModelRequest,
    ModelRequestPart,
    ModelResponse,
    ModelResponsePart,
    RetryFeedbackPart,
    RetryPromptPart,
    SpeechPart,
    SystemPromptPart,
    TextContent,
    TextPart,
    ThinkingPart,
    UserContent,
    UserPromptPart,
)

from session_history import ChatMessage, Role, ToolCall

__all__ = ["Reading", "read_request", "read_response"]

Reading = tuple[int | None, ChatMessage]
"""A message of the reading and the index of the part it reads (``None``: the instructions)."""


def read_request(request: ModelRequest, *, with_instructions: bool) -> list[Reading]:
    """The ordinary messages of a request's parts, in order.

    The instructions, when shown, come first, after any leading tool returns: a system message
    between an assistant's tool call and its results would break readers that expect results
    right after the call (OpenAI-style chat formats).
    """
    readings: list[Reading] = []
    for index, part in enumerate(request.parts):
        message = _request_part(part, request)
        if message is not None:
            readings.append((index, message))
    if with_instructions and request.instructions:
        at = 0
        while at < len(readings) and readings[at][1].role is Role.TOOL:
            at += 1
        instructions = ChatMessage(
            role=Role.SYSTEM, content=request.instructions, timestamp=request.timestamp
        )
        readings.insert(at, (None, instructions))
    return readings


def read_response(response: ModelResponse) -> list[Reading]:
    """The ordinary messages of a response's parts, in order."""
    readings: list[Reading] = []
    for index, part in enumerate(response.parts):
        message = _response_part(part, response)
        if message is not None:
            readings.append((index, message))
    return readings


def _request_part(part: ModelRequestPart, request: ModelRequest) -> ChatMessage | None:
    if isinstance(part, UserPromptPart):
        return ChatMessage(
            role=Role.USER, content=_prompt_text(part.content), timestamp=part.timestamp
        )
    if isinstance(part, SystemPromptPart):
        return ChatMessage(role=Role.SYSTEM, content=part.content, timestamp=part.timestamp)
    if isinstance(part, BaseToolReturnPart):
        return _tool_return(part, request.timestamp)
    if isinstance(part, RetryFeedbackPart):
        # The voice pydantic-ai gives it when it sends it: the framework's fixed "no output"
        # text as the system, feedback that may quote the model (validation errors, ModelRetry)
        # as the user.
        role = Role.SYSTEM if part.retry.cause == "no_output" else Role.USER
        return ChatMessage(role=role, content=part.model_response(), timestamp=part.timestamp)
    if isinstance(part, RetryPromptPart):  # deprecated, but code may still build one
        if part.tool_name is None:
            return ChatMessage(
                role=Role.USER, content=part.model_response(), timestamp=part.timestamp
            )
        return ChatMessage(
            role=Role.TOOL,
            content=part.model_response(),
            name=part.tool_name,
            tool_call_id=part.tool_call_id,
            status="retried",
            timestamp=part.timestamp,
        )
    if isinstance(part, InstructionDeltaPart):
        if part.content is None:  # a withdrawal: nothing to read
            return None
        return ChatMessage(role=Role.SYSTEM, content=part.content, timestamp=request.timestamp)
    if isinstance(part, CompactionPart):
        # An application-written summary: pydantic-ai sends it in the user's voice.
        return ChatMessage(role=Role.USER, content=part.content, timestamp=request.timestamp)
    if isinstance(part, SpeechPart):
        return ChatMessage(role=Role.USER, content=part.transcript, timestamp=request.timestamp)
    return None


def _response_part(part: ModelResponsePart, response: ModelResponse) -> ChatMessage | None:
    fields: dict[str, Any] = {
        "role": Role.ASSISTANT,
        "timestamp": response.timestamp,
        "provider_response_id": response.provider_response_id,
    }
    if isinstance(part, TextPart):
        fields["content"] = part.content or None
    elif isinstance(part, ThinkingPart):
        fields["reasoning"] = part.content or None
    elif isinstance(part, BaseToolCallPart):
        arguments = pydantic_core.to_jsonable_python(part.args_as_dict(), bytes_mode="base64")
        fields["tool_calls"] = [
            ToolCall(id=part.tool_call_id, name=part.tool_name, arguments=arguments)
        ]
    elif isinstance(part, BaseToolReturnPart):  # a native (provider-run) tool's result
        return _tool_return(part, response.timestamp)
    elif isinstance(part, CompactionPart | SpeechPart):
        fields["content"] = (
            part.content if isinstance(part, CompactionPart) else part.transcript
        ) or None
    elif not isinstance(part, FilePart):
        return None
    return ChatMessage.model_validate(fields)


def _tool_return(part: BaseToolReturnPart[Any], fallback_time: Any) -> ChatMessage:
    return ChatMessage(
        role=Role.TOOL,
        content=part.model_response_str(wrap_if_error=False) or None,
        name=part.tool_name,
        tool_call_id=part.tool_call_id,
        status=part.outcome,
        timestamp=part.timestamp or fallback_time,
    )


def _prompt_text(content: str | Sequence[UserContent]) -> str | None:
    """A prompt's text, for readers that want plain text: media items are left out."""
    if isinstance(content, str):
        return content
    texts = [
        item if isinstance(item, str) else item.content
        for item in content
        if isinstance(item, str | TextContent)
    ]
    return "\n".join(texts) or None
