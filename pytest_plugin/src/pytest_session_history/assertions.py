"""Transcript assertions: compare what an agent recorded with what a test expects.

A failure is an ``AssertionError`` whose message is the whole transcript, one numbered line per
message, with ``-`` (expected) and ``+`` (actual) on the lines that differ: readable without
``-vv``. The helpers hide their own frames (``__tracebackhide__``), so pytest shows the test's
line and the diff, not this module's source.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from session_history import ChatMessage, Session

from .trajectory import assert_tool_calls
from .transcript import messages_of

__all__ = ["assert_transcript", "raise_marked"]

_MISSING = "(missing)"
_NOTHING_MORE = "(nothing more)"


def assert_transcript(
    actual: Session | Sequence[ChatMessage],
    expected: Sequence[tuple[str, Any]],
    *,
    tool_calls: Sequence[tuple[str, Any] | str] | None = None,
) -> None:
    """Assert that a transcript has exactly the expected messages, in order.

    Args:
        actual: A session, or its messages.
        expected: ``(role, content)`` pairs. ``content`` is the exact text, a compiled regex
            (matched with ``search``), ``None`` for a message without content, or ``...`` for
            any content.
        tool_calls: If given, the ``(name, arguments)`` of every tool call in the transcript,
            in order, as ``assert_tool_calls(..., mode="strict")`` takes them.

    Raises:
        AssertionError: The transcript differs; the message shows all of it, marked.
    """
    __tracebackhide__ = True
    messages = messages_of(actual)
    rows: list[tuple[str, str]] = []
    for index in range(max(len(messages), len(expected))):
        message = messages[index] if index < len(messages) else None
        got = _line(message.role.value, message.content) if message else _MISSING
        if index >= len(expected):
            rows.append((_NOTHING_MORE, got))
            continue
        role, content = expected[index]
        want = _line(str(role), content)
        matched = (
            message is not None
            and message.role.value == str(role)
            and _matches(content, message.content)
        )
        # A matching line is shown as the test wrote it, so only real differences are marked.
        rows.append((want, want if matched else got))
    raise_marked("the transcript differs from the expected one (- expected, + actual):", rows)
    if tool_calls is not None:
        assert_tool_calls(messages, tool_calls)


def raise_marked(title: str, rows: Sequence[tuple[str, str]]) -> None:
    """Raise with ``title`` and every row numbered, ``-``/``+`` marking the ones whose two
    sides differ; do nothing when no row differs. A replay's input check fails the same way."""
    __tracebackhide__ = True
    if all(want == got for want, got in rows):
        return
    lines = [title]
    for index, (want, got) in enumerate(rows):
        if want == got:
            lines.append(f"  {index}. {want}")
        else:
            lines.extend((f"- {index}. {want}", f"+ {index}. {got}"))
    raise AssertionError("\n".join(lines))


def _line(role: str, content: object) -> str:
    if isinstance(content, re.Pattern):
        return f"{role}: /{content.pattern}/"
    if content is Ellipsis:
        return f"{role}: ..."
    return f"{role}: {content!r}"


def _matches(expected: object, content: str | None) -> bool:
    if expected is Ellipsis:
        return True
    if isinstance(expected, re.Pattern):
        return content is not None and expected.search(content) is not None
    return bool(expected == content)
