"""A huge export line, read in pieces: its messages parsed a batch at a time, never all at once.

Validating a line of a million messages into models costs some 20 times its size (1.83 GB for an
84 MB line). A line longer than :data:`HUGE` is instead scanned once for where its message arrays
are (the session's and each branch's): :func:`read_huge` validates everything else as usual,
with one stand-in message in each array, and then every array a batch of :data:`BATCH` at a
time, keeping only their counts, so a bad message is reported as on any line. The store then
parses each array again, batch by batch, inside the session's import transaction
(:meth:`HugeLine.batches`), so an import holds the line's text and one batch: a small multiple
of the line's size, whatever its length, and a failure half-way leaves nothing of the session.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pydantic import ValidationError

from ._arguments import messages_problem
from ._codec import MESSAGES
from ._models import ChatMessage, ExportedSession

__all__ = ["BATCH", "HUGE", "HugeLine", "LineProblem", "read_huge"]

HUGE = 1 << 20
"""Characters: a longer line is read in pieces (a shorter one costs at most some 20 MB whole)."""
BATCH = 2000
"""Messages parsed (and stored) at a time."""
STAND_IN = '{"role":"user"}'
"""What each message array holds while the rest of the line is validated (a branch's may not be
empty)."""

_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class LineProblem(ValueError):
    """What is wrong with a huge line, in the words a bad line is reported with."""


@dataclass(frozen=True)
class Array:
    """A message array of the line: where its ``[`` is, its path in the line, its length."""

    start: int
    where: str
    count: int


@dataclass(frozen=True)
class HugeLine:
    """A valid huge line: ``head`` is its session with a stand-in message in each array (the
    form an unchanged session is compared in); ``current`` and ``branches`` its arrays."""

    text: str
    head: ExportedSession
    current: Array
    branches: list[Array]

    @property
    def session(self) -> ExportedSession:
        """The session without its messages (and its branches without theirs)."""
        branches = [b.model_copy(update={"messages": []}) for b in self.head.branches]
        return self.head.model_copy(update={"messages": [], "branches": branches})

    def batches(self, array: Array) -> Iterator[list[ChatMessage]]:
        """The messages of ``array``, :data:`BATCH` at a time."""
        for texts in _batches(self.text, array.start):
            yield MESSAGES.validate_json("[" + ",".join(texts) + "]")


def _space(text: str, i: int) -> int:
    found = _SPACE.match(text, i)
    assert found is not None  # it matches the empty string
    return found.end()


def _elements(text: str, i: int) -> Iterator[tuple[int, int]]:
    """Where each element of the array whose ``[`` is at ``i`` begins and ends."""
    if text[i : i + 1] != "[":
        raise ValueError("not an array")
    j = _space(text, i + 1)
    if text[j : j + 1] == "]":
        return
    while True:
        _, end = _DECODER.raw_decode(text, j)
        yield j, end
        j = _space(text, end)
        if text[j : j + 1] == "]":
            return
        if text[j : j + 1] != ",":
            raise ValueError("not an array")
        j = _space(text, j + 1)


def _batches(text: str, start: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for s, e in _elements(text, start):
        batch.append(text[s:e])
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _object(text: str, i: int, value: Callable[[str, int], int]) -> int:
    """Walk the object whose ``{`` is at ``i``: ``value(key, start)`` reads each member's value
    and says where it ends; returns where the object ends."""
    if text[i : i + 1] != "{":
        raise ValueError("not an object")
    j = _space(text, i + 1)
    if text[j : j + 1] == "}":
        return j + 1
    while True:
        key, j = _DECODER.raw_decode(text, j)
        j = _space(text, j)
        if not isinstance(key, str) or text[j : j + 1] != ":":
            raise ValueError("not an object")
        j = _space(text, value(key, _space(text, j + 1)))
        if text[j : j + 1] == "}":
            return j + 1
        if text[j : j + 1] != ",":
            raise ValueError("not an object")
        j = _space(text, j + 1)


def _array(text: str, i: int, element: Callable[[int, int], int]) -> int:
    """Walk the array whose ``[`` is at ``i``: ``element(number, start)`` reads each element and
    says where it ends; returns where the array ends."""
    if text[i : i + 1] != "[":
        raise ValueError("not an array")
    j = _space(text, i + 1)
    number = 0
    if text[j : j + 1] == "]":
        return j + 1
    while True:
        j = _space(text, element(number, j))
        number += 1
        if text[j : j + 1] == "]":
            return j + 1
        if text[j : j + 1] != ",":
            raise ValueError("not an array")
        j = _space(text, j + 1)


def _skip(text: str, i: int) -> int:
    return int(_DECODER.raw_decode(text, i)[1])


def _scan(text: str) -> tuple[str, list[tuple[int, str]]]:
    """The line with a stand-in in each message array, and each array's start and path."""
    arrays: list[tuple[int, str]] = []
    cuts: list[tuple[int, int]] = []

    def messages(start: int, where: str) -> int:
        if any(w == where for _, w in arrays):
            raise ValueError("a key given twice")
        end = _array(text, start, lambda _, s: _skip(text, s))
        arrays.append((start, where))
        cuts.append((start, end))
        return end

    def branch(number: int, start: int) -> int:
        def member(key: str, at: int) -> int:
            if key == "messages":
                return messages(at, f"branches.{number}.messages")
            return _skip(text, at)

        return _object(text, start, member)

    def member(key: str, start: int) -> int:
        if key == "messages":
            return messages(start, "messages")
        if key == "branches":
            if any(w.startswith("branches.") for _, w in arrays):
                raise ValueError("a key given twice")
            return _array(text, start, branch)
        return _skip(text, start)

    if _space(text, _object(text, _space(text, 0), member)) != len(text):
        raise ValueError("more after the object")
    pieces: list[str] = []
    last = 0
    for start, end in sorted(cuts):
        pieces += [text[last:start], "[", STAND_IN, "]"]
        last = end
    pieces.append(text[last:])
    return "".join(pieces), arrays


def read_huge(text: str) -> HugeLine | None:
    """The huge line ``text`` read in pieces, or None when it is not an object of the shape an
    export has (its error is then found by validating it whole). LineProblem names what is
    wrong with a line of that shape, as a bad line is reported."""
    try:
        head_text, found = _scan(text)
    except (ValueError, IndexError):
        return None
    head = ExportedSession.model_validate_json(head_text)  # ValidationError: the caller's
    arrays: list[Array] = []
    for start, where in found:
        count = 0
        for texts in _batches(text, start):
            try:
                batch = MESSAGES.validate_json("[" + ",".join(texts) + "]")
            except ValidationError as exc:
                raise LineProblem(_first_error(exc, where, count)) from None
            problem = messages_problem(batch, where)
            if problem is not None:  # its place is counted from this batch's first message
                raise LineProblem(f"{problem} (counting from message {count})")
            count += len(batch)
        if count == 0 and where != "messages":  # the stand-in hid it from the head's check
            raise LineProblem(f"{where}: List should have at least 1 item after validation, not 0")
        arrays.append(Array(start, where, count))
    current = next(a for a in arrays if a.where == "messages")
    return HugeLine(text, head, current, [a for a in arrays if a is not current])


def _first_error(exc: ValidationError, where: str, base: int) -> str:
    """As ``_jsonl.first_error`` says a line's error, for a batch that starts at ``base``."""
    error = exc.errors()[0]
    index, *rest = error["loc"]
    loc = [where, str(base + int(index)), *(str(part) for part in rest)]
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{'.'.join(loc)}: {error['msg']}{more}"
