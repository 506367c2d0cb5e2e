"""Transcript assertions: compare what an agent recorded with what a test expects.

pytest rewrites the asserts of this module (the plugin registers it), so a failure shows a
line-by-line diff of the transcript instead of a bare ``AssertionError``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from session_history import ChatMessage, Session

__all__ = ["assert_tool_calls", "assert_transcript"]


def _line(role: str, content: object) -> str:
    if isinstance(content, re.Pattern):
        return f"{role}: /{content.pattern}/"
    if content is Ellipsis:
        return f"{role}: ..."
    return f"{role}: {content!r}"


def _messages(actual: Session | Sequence[ChatMessage]) -> list[ChatMessage]:
    return list(actual.messages if isinstance(actual, Session) else actual)


def assert_transcript(
    actual: Session | Sequence[ChatMessage],
    expected: Sequence[tuple[str, Any]],
    *,
    tool_calls: Sequence[tuple[str, dict[str, Any] | None]] | None = None,
) -> None:
    """Assert that a transcript has exactly the expected messages, in order.

    Args:
        actual: A session, or its messages.
        expected: ``(role, content)`` pairs. ``content`` is the exact text, a compiled regex
            (matched with ``search``), ``None`` for a message without content, or ``...`` for
            any content.
        tool_calls: If given, the ``(name, arguments)`` of every tool call in the transcript,
            in order; ``arguments=None`` accepts any arguments.
    """
    messages = _messages(actual)
    shown_actual: list[str] = []
    shown_expected: list[str] = []
    for index in range(max(len(messages), len(expected))):
        message = messages[index] if index < len(messages) else None
        want = expected[index] if index < len(expected) else None
        got = _line(message.role.value, message.content) if message else "(missing)"
        if want is None:
            shown_expected.append("(nothing more)")
            shown_actual.append(got)
            continue
        role, content = want
        matched = (
            message is not None
            and message.role.value == str(role)
            and _matches(content, message.content)
        )
        # A matching line is shown as expected, so the diff points at the real differences only.
        shown_expected.append(_line(str(role), content))
        shown_actual.append(_line(str(role), content) if matched else got)
    numbered_actual = [f"{i}. {line}" for i, line in enumerate(shown_actual)]
    numbered_expected = [f"{i}. {line}" for i, line in enumerate(shown_expected)]
    assert numbered_actual == numbered_expected, "the transcript differs from the expected one"
    if tool_calls is not None:
        assert_tool_calls(messages, tool_calls)


def assert_tool_calls(
    actual: Session | Sequence[ChatMessage],
    expected: Sequence[tuple[str, dict[str, Any] | None]],
) -> None:
    """Assert the ``(name, arguments)`` of every tool call in a transcript, in order;
    ``arguments=None`` accepts any arguments."""
    calls = [call for m in _messages(actual) for call in (m.tool_calls or [])]
    shown_actual = [
        f"{call.name}({json.dumps(call.arguments, sort_keys=True)})"
        if want is None or want[1] is not None
        else f"{call.name}(...)"
        for call, want in zip(calls, [*expected, *[None] * len(calls)], strict=False)
    ]
    shown_expected = [
        f"{name}({json.dumps(arguments, sort_keys=True)})"
        if arguments is not None
        else f"{name}(...)"
        for name, arguments in expected
    ]
    assert shown_actual == shown_expected, "the tool calls differ from the expected ones"


def _matches(expected: object, content: str | None) -> bool:
    if expected is Ellipsis:
        return True
    if isinstance(expected, re.Pattern):
        return content is not None and expected.search(content) is not None
    return bool(expected == content)
