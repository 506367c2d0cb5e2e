"""The tree's rules, written once for every backend: paths, branches, forks, reachability.

How a session's messages are kept as a tree (both backends, schema ``m005_tree`` / ``m004_tree``):

* An **entry** is a stored message: a row of ``messages`` with its ``entry_id`` and its place,
  ``(line_pk, seq)``. ``seq`` is the entry's depth: its position on every path that holds it
  (0 for a first message). An entry's parent never changes, so neither does its path.
* A **line** (table ``lines``) is a run of entries at consecutive depths, starting at depth
  ``start``; below that, its path continues in ``parent`` up to depth ``start - 1``. A session's
  messages, when it never branches, are one line from depth 0: an append to the head inserts at
  the next depth of that line, as the flat list did (no copy, no walk). A branch or a fork
  starts a new line at the first depth it changes. ``root`` names the tree a line belongs to
  (all the lines one conversation and its forks share), ``session_pk`` the session that wrote
  it (its *owner*: the only session that adds to it; search reports it).
* A session's **head** is ``(head_line, message_count - 1)``: its current branch is the path
  from depth 0 to there. ``grow_line`` is the line an append may extend in place (the head is
  its last entry and the session owns it), or NULL when the next append starts a new line.
  Its other **branches** are their tips, rows of ``branches``.
* **Reachability**: an entry stays stored while some session's head or branch tip has it on its
  path; a pop, a delete or a prune removes the entries that no tip reaches any longer
  (:func:`collect`), and hands a deleted session's lines that forks still reach to one of those
  forks, so deleting a source leaves every fork whole.

So a path is a handful of ranges (one per line it crosses: one for a session that never
branched), each read in order through the ``(line_pk, seq)`` index: :func:`path` computes them
from the lines of the tree (read with :data:`LINES_OF_TREE`), and :func:`tail` keeps the last
messages of them. Backends only turn these into SQL.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

__all__ = [
    "Collect",
    "HeadRow",
    "Line",
    "Point",
    "Range",
    "beyond",
    "branch_start",
    "collect",
    "contains",
    "new_entry_id",
    "path",
    "point_at",
    "prefix",
    "shares_a_tree",
    "tail",
]


@dataclass(frozen=True, slots=True)
class Line:
    """A row of ``lines``."""

    pk: int
    session_pk: int
    parent: int | None
    start: int


@dataclass(frozen=True, slots=True)
class Point:
    """Where an entry is: its line and depth."""

    line: int
    seq: int


Time = TypeVar("Time", str, datetime)
"""How a backend hands times over: SQLite's fixed-width UTC text, PostgreSQL's datetimes."""


@dataclass(frozen=True)  # not slots: a slotted generic dataclass fails when made through HeadRow[T]
class HeadRow(Generic[Time]):
    """The columns of a session row that the tree's writes work with, as both backends read
    them (in this order)."""

    pk: int
    count: int
    turns: int
    tool_calls: int
    head_line: int | None
    grow_line: int | None
    head_entry: str | None
    revision: int
    updated_at: Time
    scope: str | None
    expires_at: Time | None

    @property
    def head(self) -> Point | None:
        return Point(self.head_line, self.count - 1) if self.head_line is not None else None

    def expired(self, now: Time) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def missing_to(self, scope: str | None, now: Time) -> bool:
        """Whether the session reads as missing to a caller of ``scope``: expired, or another
        owner's."""
        return self.expired(now) or (scope is not None and self.scope != scope)


@dataclass(frozen=True, slots=True)
class Range:
    """The entries of ``line`` from depth ``lo`` to ``hi`` (both included)."""

    line: int
    lo: int
    hi: int


def path(lines: Mapping[int, Line], head: Point | None) -> list[Range]:
    """The ranges that make the path from depth 0 to ``head``, first depth first."""
    ranges: list[Range] = []
    if head is None:
        return ranges
    line, hi = head.line, head.seq
    while True:
        row = lines[line]
        if hi >= row.start:
            ranges.append(Range(line, row.start, hi))
        if row.parent is None:
            break
        line, hi = row.parent, row.start - 1
    ranges.reverse()
    return ranges


def tail(ranges: Sequence[Range], last: int | None) -> list[Range]:
    """Only the last ``last`` entries of a path (all of it for None)."""
    if last is None or not ranges:
        return list(ranges)
    first = ranges[-1].hi - last + 1
    return [Range(r.line, max(r.lo, first), r.hi) for r in ranges if r.hi >= first]


def prefix(ranges: Sequence[Range], n: int) -> list[Range]:
    """Only the first ``n`` entries of a path."""
    return [Range(r.line, r.lo, min(r.hi, n - 1)) for r in ranges if r.lo <= n - 1]


def point_at(ranges: Sequence[Range], seq: int) -> Point | None:
    """The entry at depth ``seq`` of a path (None for depth -1: before the first)."""
    for r in ranges:
        if r.lo <= seq <= r.hi:
            return Point(r.line, seq)
    return None


def beyond(ranges: Sequence[Range], done: Sequence[Range]) -> list[Range]:
    """The part of a path that is not in ``done`` (other paths of the same tree): paths share a
    prefix, so what is left is an end of it. An export writes each branch as that end."""
    left: list[Range] = []
    for r in ranges:
        lo = r.lo
        for d in done:
            if d.line == r.line and d.lo <= lo <= d.hi:
                lo = d.hi + 1
        if lo <= r.hi:
            left.append(Range(r.line, lo, r.hi))
    return left


def contains(ranges: Sequence[Range], point: Point) -> bool:
    """Whether the entry at ``point`` is on the path made of ``ranges``."""
    return any(r.line == point.line and r.lo <= point.seq <= r.hi for r in ranges)


@dataclass
class Collect:
    """What a removal leaves to delete and to hand over, for one tree."""

    keep: dict[int, int] = field(default_factory=dict)
    """For each line of the tree: the highest depth still reached (-1: none; the line goes)."""
    owners: dict[int, int] = field(default_factory=dict)
    """Lines whose owner is going, and the session that takes them over."""

    def trims(self) -> list[tuple[int, int]]:
        """``(line, keep_to)``: delete the entries of ``line`` deeper than ``keep_to``."""
        return sorted(self.keep.items())

    def dropped(self) -> list[int]:
        """The lines no tip reaches any longer."""
        return sorted(line for line, keep in self.keep.items() if keep < 0)


def collect(
    lines: Mapping[int, Line],
    tips: Iterable[tuple[int, Point]],
    *,
    leaving: int | None = None,
) -> Collect:
    """What to remove from a tree (all its ``lines``) once only ``tips`` are left, each given as
    ``(session_pk, point)``: every head and branch tip of the sessions that stay. ``leaving`` is
    a session being deleted: its lines that others still reach get a new owner, the session
    that reaches the line's deepest entry (the lowest key among equals, so it is repeatable).
    """
    result = Collect(keep=dict.fromkeys(lines, -1))
    best: dict[int, tuple[int, int]] = {}  # line -> (-depth reached, session) of its heir
    for session_pk, tip in tips:
        for r in path(lines, tip):
            if r.hi > result.keep[r.line]:
                result.keep[r.line] = r.hi
            if leaving is not None and lines[r.line].session_pk == leaving:
                candidate = (-r.hi, session_pk)
                if r.line not in best or candidate < best[r.line]:
                    best[r.line] = candidate
    result.owners = {line: heir for line, (_, heir) in best.items()}
    return result


def branch_start(places: Mapping[str, Point], parent: str | None, session_id: str) -> Point | None:
    """Where an imported branch's parent entry is (None: the branch starts at depth 0), among
    the entries imported before it; an export lists a branch after what it starts from, so a
    parent not there is a line that is not an export of a session's tree."""
    if parent is None:
        return None
    found = places.get(parent)
    if found is None:
        from .._errors import InvalidQueryError  # tree.py imports nothing else of ours

        raise InvalidQueryError(
            f"session {session_id!r}: a branch's parent entry {parent!r} is not on the current "
            "branch or an earlier one; the line is not an export of a session's tree"
        )
    return found


def shares_a_tree(pk: str) -> str:
    """SQL, the same in both dialects: whether the session whose key is ``pk`` (a column of an
    outer query, or a parameter) shares a tree with another session: another owns a line of it,
    or has its head or a branch tip on one. Such a session is deleted by :func:`collect`'s plan,
    keeping what the others reach; any other goes with its row at once. (Fork records cannot
    tell: a fork of a fork is still reached through its source's lines once the fork between
    them is gone.)"""
    roots = (
        f"SELECT r.root FROM lines AS r WHERE r.session_pk = {pk} "
        f"OR r.pk = (SELECT h.head_line FROM sessions AS h WHERE h.pk = {pk}) "
        f"OR r.pk IN (SELECT t.line_pk FROM branches AS t WHERE t.session_pk = {pk})"
    )
    return (
        f"(EXISTS (SELECT 1 FROM lines AS o WHERE o.session_pk <> {pk} AND o.root IN ({roots}))"
        f" OR EXISTS (SELECT 1 FROM sessions AS x JOIN lines AS o ON o.pk = x.head_line "
        f"WHERE x.pk <> {pk} AND o.root IN ({roots}))"
        f" OR EXISTS (SELECT 1 FROM branches AS b JOIN lines AS o ON o.pk = b.line_pk "
        f"WHERE b.session_pk <> {pk} AND o.root IN ({roots})))"
    )


_last_ms = 0
_counter = 0


def new_entry_id() -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then a 12-bit counter that keeps ids
    made within one millisecond in order (method 1 of section 6.2), then 62 random bits.

    Python has ``uuid.uuid7`` only from 3.14; this is its layout, in a dozen lines instead of a
    dependency. Ids sort by the time they were made, within a process even inside a millisecond.
    """
    global _last_ms, _counter
    ms = time.time_ns() // 1_000_000
    if ms > _last_ms:
        _last_ms, _counter = ms, int.from_bytes(os.urandom(2)) & 0x3FF  # room to count up
    else:
        _counter += 1
        if _counter > 0xFFF:  # 4,096 ids in one millisecond: borrow the next one
            _last_ms, _counter = _last_ms + 1, 0
        ms = _last_ms
    rand = int.from_bytes(os.urandom(8)) & 0x3FFF_FFFF_FFFF_FFFF
    value = (ms << 80) | (0x7 << 76) | (_counter << 64) | (0b10 << 62) | rand
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
