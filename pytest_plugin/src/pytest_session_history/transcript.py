"""``normalized_transcript``: a plain, stable view of a session, for snapshot tools.

Two recordings of the same conversation give equal views, whatever their ids and times: each
message becomes a dict of what it says (role, text, reasoning, tool calls with their arguments,
the call a tool result answers), timestamps and framework payloads (``metadata``) are dropped,
and every id is replaced by a placeholder numbered in order of first appearance within the
session (``call_1``, ``call_2``... for tool calls; ``msg_1``... for message ids; ``resp_1``...
for provider response ids), so that a result still names the call it answers. A changed word,
argument or role is a difference.

The same view, without placeholders, is what a replay model compares (:mod:`.replay`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from session_history import ChatMessage, InvalidQueryError, Session

__all__ = ["message_view", "messages_of", "normalized_transcript"]


class _Placeholders:
    """Stable names for volatile ids: the same id always gets the same name in one session."""

    def __init__(self) -> None:
        self._names: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}

    def __call__(self, prefix: str, value: str) -> str:
        key = (prefix, value)
        if key not in self._names:
            self._counts[prefix] = self._counts.get(prefix, 0) + 1
            self._names[key] = f"{prefix}_{self._counts[prefix]}"
        return self._names[key]


def _keep(_prefix: str, value: str) -> str:
    return value


def messages_of(actual: Session | Sequence[ChatMessage]) -> list[ChatMessage]:
    """The messages of a session, or the messages themselves."""
    return list(actual.messages if isinstance(actual, Session) else actual)


def message_view(
    message: ChatMessage,
    tool_names: dict[str, str],
    rename: Callable[[str, str], str] = _keep,
    *,
    ids: bool = True,
) -> dict[str, Any]:
    """One message as a plain dict: the keys it has a value for, in a fixed order.

    Args:
        message: The message.
        tool_names: Tool call id -> tool name, for naming the tool a result answers.
        rename: ``rename(prefix, id)`` gives the name an id is shown as.
        ids: Whether ids appear at all (a replay compares what messages say, not their ids).
    """
    view: dict[str, Any] = {"role": message.role.value}
    if message.content is not None:
        view["content"] = message.content
    if message.reasoning is not None:
        view["reasoning"] = message.reasoning
    if message.tool_calls:
        view["tool_calls"] = [
            {
                **({"id": rename("call", call.id)} if ids and call.id else {}),
                "name": call.name,
                "arguments": call.arguments,
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        if ids:
            view["tool_call_id"] = rename("call", message.tool_call_id)
        tool = message.name or tool_names.get(message.tool_call_id)
        if tool is not None:
            view["tool"] = tool
    elif message.name is not None:
        view["name"] = message.name
    if message.status is not None:
        view["status"] = message.status
    if ids and message.id is not None:
        view["id"] = rename("msg", message.id)
    if ids and message.provider_response_id is not None:
        view["response_id"] = rename("resp", message.provider_response_id)
    return view


def tool_names_of(messages: Sequence[ChatMessage]) -> dict[str, str]:
    """Tool call id -> the name of the tool called, over every call in ``messages``."""
    return {call.id: call.name for m in messages for call in m.tool_calls or [] if call.id}


def normalized_transcript(
    session: Session | Sequence[ChatMessage], *, usage: bool = False
) -> list[dict[str, Any]]:
    """A plain, stable view of a session for snapshot tools (syrupy, inline-snapshot).

    Each message is a dict with ``role`` and, when it has them, ``content``, ``reasoning``,
    ``tool_calls`` (``id``, ``name``, ``arguments``), ``tool_call_id`` and ``tool`` (the call a
    result answers and its tool), ``name``, ``status``, ``id`` and ``response_id``. Ids are
    renamed ``call_1``, ``msg_1``, ``resp_1``... in order of first appearance; timestamps and
    framework metadata are left out.

    Args:
        session: A session, or its messages.
        usage: Add the session's token usage as a last item, ``{"usage": {...}}``.

    Returns:
        One dict per message (and the usage, when asked for).

    Raises:
        InvalidQueryError: ``usage=True`` for a list of messages, which has no usage.
    """
    messages = messages_of(session)
    names = tool_names_of(messages)
    rename = _Placeholders()
    views = [message_view(message, names, rename) for message in messages]
    if usage:
        if not isinstance(session, Session):
            raise InvalidQueryError(
                "normalized_transcript(..., usage=True) needs a Session (messages carry no "
                "usage); pass the session, or leave usage out"
            )
        views.append({"usage": session.usage.model_dump() if session.usage else None})
    return views
