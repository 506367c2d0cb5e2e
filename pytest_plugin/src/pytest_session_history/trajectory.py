"""``assert_tool_calls``: compare the tool calls an agent made with the ones a test expects.

The modes mean what agentevals' trajectory match modes mean, applied to the calls in order:

* ``"strict"``: the same calls in the same order;
* ``"unordered"``: the same calls in any order (the same multiset);
* ``"subset"``: every call made was expected (expected calls may be missing);
* ``"superset"``: every expected call was made (other calls may be made too).

Each actual call stands for at most one expected call. agentevals pairs them greedily, first
come first served, which can miss a pairing that exists when expectations overlap (a pattern
and an exact value); here the pairing is a maximum matching, so a pairing is found whenever
one exists.

An expectation is ``(name, arguments)`` or a bare ``name`` (any arguments). ``arguments`` is
``None`` or ``...`` (any), a predicate on the whole dict, or a dict compared key by key, where
each value is compared exactly, or is ``...`` (any value), a compiled regex (``search`` on a
string), a type (``isinstance``), a predicate (called with the value), or a dict or list compared
the same way, item by item.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from session_history import ChatMessage, InvalidQueryError, Session, ToolCall

from .transcript import messages_of

__all__ = ["MODES", "Mode", "assert_tool_calls", "render_call"]

Mode = Literal["strict", "unordered", "subset", "superset"]

MODES: dict[str, str] = {
    "strict": "the same calls in the same order",
    "unordered": "the same calls in any order",
    "subset": "every call made was expected",
    "superset": "every expected call was made",
}

Expected = tuple[str, Any] | str


def assert_tool_calls(
    actual: Session | Sequence[ChatMessage],
    expected: Sequence[Expected],
    *,
    mode: Mode = "strict",
) -> None:
    """Assert the tool calls of a transcript, as agentevals' trajectory match modes do.

    Args:
        actual: A session, or its messages.
        expected: ``(name, arguments)`` pairs, or bare names (any arguments). ``arguments`` is
            ``None`` or ``...`` for any, a predicate on the dict, or a dict whose values are exact
            or ``...``, a regex, a type or a predicate.
        mode: ``"strict"``, ``"unordered"``, ``"subset"`` or ``"superset"`` (module docstring).

    Raises:
        AssertionError: The calls differ; the message lists expected and actual calls side by
            side, ``!=`` on the rows that make the difference.
        InvalidQueryError: An unknown mode, or an expectation that is not a name or a pair.
    """
    __tracebackhide__ = True
    if mode not in MODES:
        raise InvalidQueryError(
            f"unknown mode {mode!r} for assert_tool_calls; use one of {', '.join(map(repr, MODES))}"
        )
    wanted = [_expectation(item, index) for index, item in enumerate(expected)]
    calls = [call for message in messages_of(actual) for call in message.tool_calls or []]
    rows = _strict_rows(wanted, calls) if mode == "strict" else _matched_rows(wanted, calls, mode)
    if all(ok for ok, _, _ in rows):
        return
    width = max([len("expected"), *(len(left) for _, left, _ in rows)])
    lines = [
        f'the tool calls differ from the expected ones (mode="{mode}": {MODES[mode]}):',
        f"  {'expected':<{width}}    actual",
    ]
    lines += [f"  {left:<{width}} {'  ' if ok else '!='} {right}" for ok, left, right in rows]
    raise AssertionError("\n".join(lines))


Row = tuple[bool, str, str]


def _strict_rows(wanted: list[tuple[str, Any]], calls: list[ToolCall]) -> list[Row]:
    rows: list[Row] = []
    for index in range(max(len(wanted), len(calls))):
        want = wanted[index] if index < len(wanted) else None
        call = calls[index] if index < len(calls) else None
        left = f"{index}. {render_call(*want)}" if want else "(nothing more)"
        right = f"{index}. {render_call(call.name, call.arguments)}" if call else "(missing)"
        ok = want is not None and call is not None and _call_matches(want, call)
        rows.append((ok, left, right))
    return rows


def _matched_rows(wanted: list[tuple[str, Any]], calls: list[ToolCall], mode: str) -> list[Row]:
    """Each actual call beside the expectation it stands for, then the expectations left."""
    pairs = _maximum_matching(wanted, calls)  # actual index -> expected index
    rows: list[Row] = []
    for index, call in enumerate(calls):
        right = f"{index}. {render_call(call.name, call.arguments)}"
        if index in pairs:
            rows.append((True, f"{pairs[index]}. {render_call(*wanted[pairs[index]])}", right))
        else:  # a call nobody expected: wrong unless expected calls are only a minimum
            rows.append((mode == "superset", "(not expected)", right))
    paired = set(pairs.values())
    for index, want in enumerate(wanted):
        if index not in paired:  # expected, not made: wrong unless they are only a maximum
            rows.append((mode == "subset", f"{index}. {render_call(*want)}", "(not made)"))
    return rows


def _maximum_matching(wanted: list[tuple[str, Any]], calls: list[ToolCall]) -> dict[int, int]:
    """Pair actual calls with expectations they match, as many as can be (Kuhn's algorithm)."""
    fits = [[w for w, want in enumerate(wanted) if _call_matches(want, call)] for call in calls]
    owner: dict[int, int] = {}  # expected index -> actual index

    def place(actual: int, seen: set[int]) -> bool:
        for want in fits[actual]:
            if want in seen:
                continue
            seen.add(want)
            if want not in owner or place(owner[want], seen):
                owner[want] = actual
                return True
        return False

    for actual in range(len(calls)):
        place(actual, set())
    return {actual: want for want, actual in owner.items()}


def _expectation(item: object, index: int) -> tuple[str, Any]:
    if isinstance(item, str):
        return (item, None)
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return (item[0], item[1])
    raise InvalidQueryError(
        f"expected call {index} is {item!r}; give a tool name or a (name, arguments) pair"
    )


def _call_matches(want: tuple[str, Any], call: ToolCall) -> bool:
    name, arguments = want
    if name != call.name:
        return False
    if arguments is None or arguments is Ellipsis:
        return True
    if callable(arguments) and not isinstance(arguments, type):
        return bool(arguments(call.arguments))
    return value_matches(arguments, call.arguments)


def value_matches(expected: object, actual: object) -> bool:
    """Whether ``actual`` is what ``expected`` describes (module docstring)."""
    if expected is Ellipsis:
        return True
    if isinstance(expected, re.Pattern):
        return isinstance(actual, str) and expected.search(actual) is not None
    if isinstance(expected, type):
        return isinstance(actual, expected)
    if callable(expected):
        return bool(expected(actual))
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and expected.keys() == actual.keys()
            and all(value_matches(value, actual[key]) for key, value in expected.items())
        )
    if isinstance(expected, list | tuple):
        return (
            isinstance(actual, list | tuple)
            and len(expected) == len(actual)
            and all(value_matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    # JSON has no int/bool confusion: True is not 1 here.
    return isinstance(expected, bool) == isinstance(actual, bool) and expected == actual


def render_call(name: str, arguments: Any) -> str:
    """A call as ``name({...})``; ``name(...)`` for any arguments."""
    if arguments is None or arguments is Ellipsis:
        return f"{name}(...)"
    return f"{name}({_render(arguments)})"


def _render(value: object) -> str:
    if value is Ellipsis:
        return "..."
    if isinstance(value, re.Pattern):
        return f"/{value.pattern}/"
    if isinstance(value, type):
        return f"<{value.__name__}>"
    if callable(value):
        return f"<{getattr(value, '__name__', type(value).__name__)}>"
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda item: str(item[0]))
        return "{" + ", ".join(f"{json.dumps(str(k))}: {_render(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False, default=repr)
