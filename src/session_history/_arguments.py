"""Checks of what the public methods are given, each one line at the top of a method.

Without them a wrong argument meets whatever the backend does with it: a ``TypeError`` from
``"5" < 0``, an ``OverflowError`` from SQLite's 64-bit binding of ``2**63``, a float limit that
PostgreSQL rounds and SQLite refuses, ``NaN`` in metadata stored as ``null``, a token count too
large for PostgreSQL's ``bigint`` that poisons ``stats`` for the whole database. Each check here
raises :class:`~session_history.InvalidQueryError` naming the argument, what it was and what is
accepted, before anything reaches a backend, so every backend (and the blocking door, which runs
the same methods) answers the same.

Two kinds of check:

* arguments (:func:`count`, :func:`flag`, :func:`text`, :func:`moment`, :func:`duration`,
  :func:`instance`, :func:`messages`, :func:`highlight`, :func:`lines`): the type and range of
  one argument;
* data (:func:`session_data`, :func:`messages_data`, :func:`usage_data`): what a write stores.
  The models refuse non-finite floats and out-of-range counts when they are built (see
  ``_models``), but a model made with ``model_construct``, or changed after it was built, is
  never validated again: the store checks what it writes itself, so that nothing is changed on
  the way in (pydantic writes ``NaN`` as ``null``) and every stored count fits 64 bits.

Session ids are not checked here (see ``_ids``).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import SupportsIndex, TypeVar, overload

from ._errors import InvalidQueryError
from ._models import MAX_COUNT, ChatMessage, Session, Usage, number_problem

__all__ = [
    "MAX_COUNT",
    "count",
    "duration",
    "flag",
    "highlight",
    "instance",
    "lines",
    "messages",
    "messages_data",
    "moment",
    "session_data",
    "text",
    "usage_data",
]

T = TypeVar("T")


def _shown(value: object) -> str:
    """A value as an error message shows it: short, with its type."""
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({type(value).__name__})"


# -- arguments ---------------------------------------------------------------------------------


@overload
def count(name: str, value: object, *, minimum: int = 0) -> int: ...
@overload
def count(name: str, value: object, *, minimum: int = 0, allow_none: bool) -> int | None: ...
def count(name: str, value: object, *, minimum: int = 0, allow_none: bool = False) -> int | None:
    """``value`` as a count from ``minimum`` to 2**63 - 1 (what both databases hold).

    Integers only: ``bool`` (an ``int`` to Python, a mistake here), ``float`` (PostgreSQL would
    round 2.5, SQLite refuses it) and ``str`` are refused; anything with ``__index__`` (numpy's
    integers) is taken.
    """
    if value is None and allow_none:
        return None
    number: int | None = None
    if isinstance(value, SupportsIndex) and not isinstance(value, bool):
        number = operator.index(value)
    if number is None or not minimum <= number <= MAX_COUNT:
        none = " (or None)" if allow_none else ""
        raise InvalidQueryError(
            f"{name} must be an integer from {minimum} to {MAX_COUNT}{none}, not {_shown(value)}"
        )
    return number


def flag(name: str, value: object) -> bool:
    """``value`` as a bool: ``True`` or ``False`` only (``"no"`` would be true)."""
    if not isinstance(value, bool):
        raise InvalidQueryError(f"{name} must be True or False, not {_shown(value)}")
    return value


@overload
def text(name: str, value: object, *, allow_nul: bool = False) -> str: ...
@overload
def text(name: str, value: object, *, allow_none: bool, allow_nul: bool = False) -> str | None: ...
def text(
    name: str, value: object, *, allow_none: bool = False, allow_nul: bool = False
) -> str | None:
    """``value`` as text both databases can take: a ``str`` with a UTF-8 form and, unless
    ``allow_nul``, no U+0000 (PostgreSQL's ``text`` cannot hold it: a filter holding it would
    be an error there and match on SQLite)."""
    if value is None and allow_none:
        return None
    none = " or None" if allow_none else ""
    if not isinstance(value, str):
        raise InvalidQueryError(f"{name} must be a str{none}, not {_shown(value)}")
    if "\x00" in value and not allow_nul:
        raise InvalidQueryError(
            f"{name} {value!r} holds U+0000 (NUL), which PostgreSQL cannot store (so no "
            "filter may hold it); remove it"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidQueryError(
            f"{name} {value!r} holds text with no UTF-8 form (a lone surrogate, as bytes that "
            "were not UTF-8 decode to); give valid text"
        ) from None
    return value


def moment(name: str, value: object) -> datetime | None:
    """``value`` as a time, naive (taken to be UTC, as everywhere) or aware; None passes."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidQueryError(f"{name} must be a datetime or None, not {_shown(value)}")
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidQueryError(
            f"{name} {value.isoformat()} is outside the years 1 to 9999 in UTC; give a time "
            "within them"
        ) from None


def duration(name: str, value: object) -> timedelta | None:
    """``value`` as a duration of 0 or more; None passes."""
    if value is None:
        return None
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise InvalidQueryError(
            f"{name} must be a timedelta of 0 or more, or None, not {_shown(value)}"
        )
    return value


@overload
def instance(name: str, value: object, cls: type[T]) -> T: ...
@overload
def instance(name: str, value: object, cls: type[T], *, allow_none: bool) -> T | None: ...
def instance(name: str, value: object, cls: type[T], *, allow_none: bool = False) -> T | None:
    """``value`` as an instance of ``cls`` (a model: a dict is not one, build it first)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, cls):
        none = " or None" if allow_none else ""
        hint = f"; build one with {cls.__name__}(...)" if isinstance(value, dict) else ""
        raise InvalidQueryError(f"{name} must be a {cls.__name__}{none}, not {_shown(value)}{hint}")
    return value


def messages(value: object) -> Sequence[ChatMessage]:
    """``value`` as a sequence of messages (a list or tuple of ``ChatMessage``)."""
    if isinstance(value, str | bytes | dict) or not isinstance(value, Sequence):
        raise InvalidQueryError(f"messages must be a list of ChatMessage, not {_shown(value)}")
    for position, message in enumerate(value):
        if not isinstance(message, ChatMessage):
            raise InvalidQueryError(
                f"messages[{position}] must be a ChatMessage, not {_shown(message)}"
            )
    return value


def highlight(value: object) -> tuple[str, str]:
    """``value`` as the two marks put around a match: a pair of texts."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise InvalidQueryError(
            f"highlight must be a pair of str such as ('[', ']'), not {_shown(value)}"
        )
    start, stop = value
    return text("highlight[0]", start), text("highlight[1]", stop)


def lines(value: object) -> Iterable[str | bytes]:
    """``value`` as the lines of an export: an iterable of ``str`` or ``bytes`` lines, not one
    text (which would be read a character at a time). Each line's type is checked as it is read
    (:func:`line`)."""
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Iterable):
        raise InvalidQueryError(
            f"lines must be an iterable of lines (an open file, or text.splitlines()), not "
            f"{_shown(value)}"
        )
    return _checked_lines(value)


def _checked_lines(value: Iterable[object]) -> Iterable[str | bytes]:
    for number, line in enumerate(value, start=1):
        if not isinstance(line, str | bytes):
            raise InvalidQueryError(f"line {number} must be a str or bytes, not {_shown(line)}")
        yield line


# -- data a write stores -------------------------------------------------------------------------


def _refuse(problem: str | None, what: str) -> None:
    if problem is not None:
        raise InvalidQueryError(f"{what}: {problem}; nothing was stored. Fix the value and retry")


def usage_problem(usage: Usage | None, path: str = "usage") -> str | None:
    """What is wrong with token usage, or None: every integer, the provider's own fields and
    nested ones included, a count from 0 to 2**63 - 1; every float finite."""
    if usage is None:
        return None
    fields = {**usage.__dict__, **(usage.__pydantic_extra__ or {})}
    return number_problem(fields, path, counts=True)


def usage_data(usage: Usage | None, what: str = "usage") -> None:
    """Refuse token usage a store cannot keep exactly (see :func:`usage_problem`)."""
    _refuse(usage_problem(usage), what)


def _message_numbers(message: ChatMessage) -> dict[str, object]:
    """The parts of a message that may hold numbers, by the name an error gives them."""
    parts: dict[str, object] = {
        "metadata": message.metadata,
        "raw_content_blocks": message.raw_content_blocks,
        "tool_metadata": message.tool_metadata,
    }
    for position, call in enumerate(message.tool_calls or ()):
        parts[f"tool_calls[{position}].arguments"] = call.arguments
    return parts


def messages_problem(values: Sequence[ChatMessage], path: str = "messages") -> str | None:
    """What is wrong with the numbers of messages (a non-finite float), or None."""
    every = [_message_numbers(message) for message in values]
    if number_problem(every, path, counts=False) is None:  # one walk: the common case
        return None
    for position, parts in enumerate(every):
        for name, value in parts.items():
            problem = number_problem(value, f"{path}[{position}].{name}", counts=False)
            if problem is not None:
                return problem
    return None


def messages_data(values: Sequence[ChatMessage]) -> None:
    """Refuse messages holding a number JSON cannot hold (``NaN``, ``±Infinity``)."""
    _refuse(messages_problem(values), "a message cannot be stored")


def session_problem(session: Session) -> str | None:
    """What is wrong with the numbers of a session (usage, metadata, messages), or None."""
    for field in ("agent_name", "model"):
        try:
            # U+0000 is the backend's to refuse: SQLite keeps it, PostgreSQL's text cannot.
            text(field, getattr(session, field), allow_nul=True)
        except InvalidQueryError as exc:
            return str(exc)
    return (
        usage_problem(session.usage)
        or number_problem(session.metadata, "metadata", counts=False)
        or messages_problem(session.messages)
    )


def session_data(session: Session) -> None:
    """Refuse a session holding a number a store cannot keep exactly."""
    _refuse(session_problem(session), f"session {session.session_id!r} cannot be stored")
