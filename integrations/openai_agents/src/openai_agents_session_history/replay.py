"""A recorded session as an OpenAI Agents SDK model, for re-running an agent offline.

pytest-session-history's ``replay_model(session, framework="openai-agents")`` builds it: the
SDK's own test double, ``agents.testing.ScriptedModel``, with one step per recorded model
response. A response is a run of consecutive items the model wrote (assistant messages,
function and hosted-tool calls, reasoning: the items :func:`~.convert.to_chat_message` reads as
assistant messages), as ``HistorySession`` stored them, verbatim. Each step is a responder: it
hands the input items the agent sent, and the items recorded before that response, to a
``check`` (see the plugin's ``ReplayCheck``), both read as ``ChatMessage``\\ s by
:func:`~.convert.to_chat_message`, then answers with the recorded items. One more step refuses
a call past the recording, through the same check. Streamed runs (``Runner.run_streamed``) work
as with any ``ScriptedModel``.

Items carry no usage: the SDK's session keeps none per response. Each replayed response reports
what ``ScriptedModel`` reports for a step without usage (one request, no tokens).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from agents import TResponseInputItem
from agents.items import TResponseOutputItem
from agents.testing import ModelCall, ModelStep, ScriptedModel
from openai.types.responses import ResponseOutputItem
from pydantic import TypeAdapter

from session_history import ChatMessage, Role, Session

from .convert import to_chat_message, to_items

__all__ = ["Check", "replay_model"]

Check = Callable[[int, Sequence[ChatMessage] | None, Sequence[ChatMessage]], None]
"""``check(index, recorded_input, actual_input)``: raises unless call ``index`` may get its reply;
``recorded_input`` is None past the last recorded reply."""

_OUTPUT_ITEM: TypeAdapter[Any] = TypeAdapter(ResponseOutputItem)


def replay_model(session: Session, check: Check) -> ScriptedModel:
    """A ``ScriptedModel`` answering with ``session``'s recorded responses, checked by
    ``check``."""
    items = [item for message in session.messages for item in to_items(message)]
    written = [to_chat_message(item).role is Role.ASSISTANT for item in items]
    steps: list[ModelStep] = []
    start = 0
    while start < len(items):
        if not written[start]:
            start += 1
            continue
        end = start
        while end < len(items) and written[end]:
            end += 1
        answer = functools.partial(
            _answer, check, len(steps), items[:start], [_output(i) for i in items[start:end]]
        )
        steps.append(ModelStep.respond(answer))
        start = end
    steps.append(ModelStep.respond(functools.partial(_refuse, check, len(steps))))
    return ScriptedModel(steps)


def _answer(
    check: Check,
    index: int,
    recorded: list[TResponseInputItem],
    output: list[TResponseOutputItem],
    call: ModelCall,
) -> ModelStep:
    check(index, [to_chat_message(i) for i in recorded], _sent(call))
    return ModelStep(output=output, response_id=None)


def _refuse(check: Check, index: int, call: ModelCall) -> ModelStep:
    check(index, None, _sent(call))
    raise AssertionError(f"model call {index + 1} is past the recording")  # check raised first


def _sent(call: ModelCall) -> list[ChatMessage]:
    """The input items of a call as ``ChatMessage``\\ s (a bare string is a user message)."""
    sent = call.input
    if isinstance(sent, str):
        sent = [{"role": "user", "content": sent}]
    return [to_chat_message(cast(Mapping[str, Any], item)) for item in sent]


def _output(item: TResponseInputItem) -> TResponseOutputItem:
    """A stored item as the output item the model returned. An easy assistant message (a role
    and a string, written outside the SDK) becomes an output message with that text."""
    data = dict(cast(Mapping[str, Any], item))
    if "type" not in data and data.get("role") == "assistant":
        text = data.get("content") or ""
        data = {
            "type": "message",
            "id": data.get("id") or "replayed-message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
    return cast(TResponseOutputItem, _OUTPUT_ITEM.validate_python(data))
