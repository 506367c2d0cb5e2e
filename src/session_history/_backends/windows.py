"""Reading a long path a window at a time, so that memory stays flat in a session's length.

A reader first takes a :class:`PathRead`: the ranges of a path (``tree.py``) and the id of the
entry at its end, both seen in one snapshot. It then reads the path in windows of at most a few
thousand entries (:func:`windows`), one statement each, without holding a transaction between
them. Why that is still the path of one moment: an entry's place never changes, and an entry
stays stored while some tip reaches it. So if the end entry is still at its place, with its id,
when the last window is read, it was stored all along, and so was every entry on its path: no
window can have read an entry that took the place of a removed one. A backend checks that with
the last window (:meth:`~session_history._backends.base.Backend.read_window`'s ``tip``) and
says when it fails; the reader then raises :func:`changed` (a pop, delete or prune removed part
of what it was reading), never a mixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._errors import DatabaseError
from .tree import Range

if TYPE_CHECKING:
    from .base import Backend

__all__ = ["WINDOW", "PathRead", "changed", "read_windows", "size", "windows"]

WINDOW = 2000
"""Entries per window of an export line (and the batch of a huge line's import): large enough
that a window's statement costs little beside its rows, small enough to be a few MB."""


@dataclass(frozen=True, slots=True)
class PathRead:
    """A path to read in windows: its ranges, and the entry id at its end (None: empty)."""

    ranges: list[Range]
    tip: str | None


def size(ranges: Sequence[Range]) -> int:
    """How many entries ``ranges`` hold."""
    return sum(r.hi - r.lo + 1 for r in ranges)


def windows(ranges: Sequence[Range], limit: int) -> Iterator[list[Range]]:
    """``ranges`` cut into consecutive windows of at most ``limit`` entries, in path order."""
    window: list[Range] = []
    held = 0
    for r in ranges:
        lo = r.lo
        while lo <= r.hi:
            take = min(r.hi - lo + 1, limit - held)
            window.append(Range(r.line, lo, lo + take - 1))
            held += take
            lo += take
            if held == limit:
                yield window
                window, held = [], 0
    if window:
        yield window


def changed(session_id: str) -> DatabaseError:
    """The error of a windowed read whose path lost entries while it was read."""
    return DatabaseError(
        f"session {session_id!r} changed while it was read (a pop, delete or prune removed "
        "messages it was reading); read it again"
    )


async def read_windows(
    backend: Backend, session_id: str, piece: PathRead, limit: int
) -> AsyncIterator[list[str]]:
    """The stored bodies of ``piece``'s path, ``limit`` at a time, in order; DatabaseError
    (:func:`changed`) as soon as a window finds entries gone, or the last one a changed end."""
    parts = list(windows(piece.ranges, limit))
    for i, window in enumerate(parts):
        bodies = await backend.read_window(window, piece.tip if i == len(parts) - 1 else None)
        if bodies is None or len(bodies) != size(window):
            raise changed(session_id)
        yield bodies
