"""How ``HistorySession`` keeps the SDK's named branches and per-turn usage in the session.

A branch of the SDK is a branch of the session's tree (``SessionHistory.list_branches`` lists
it, the CLI, export and search see it); what the tree does not hold is kept in the session's
key-value state, under two keys:

``openai_agents.branches`` (written only once a session branches)::

    {"head": "main",            # the SDK branch the session's head is on
     "generation": 0,           # clear_session() counts up: every HistorySession goes to main
     "used": ["main", "b1"],    # branch ids ever used: never given again (as the SDK does)
     "branches": {name: {"tip": entry id | None, "length": n, "turns": n,
                         "created_at": "YYYY-MM-DD HH:MM:SS", "order": n,
                         "shared_below": n}}}

The head's branch reads its tip and length from the session's summary; a record holds them for
the branches the head is not on, which only change while the head is on them. ``shared_below``
is the depth below which a branch's entries may be on another branch's path (a branch made from
a turn shares the path before it): a pop there moves the head back and keeps the entry as a
branch of the tree (others read it), where a pop above removes it.

``openai_agents.usage``: ``{branch: {turn number: the SDK's usage row}}``, as
``store_run_usage`` writes it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from pydantic import JsonValue

from session_history import SessionSummary

__all__ = ["BRANCHES_KEY", "MAIN", "USAGE_KEY", "View", "stamp"]

BRANCHES_KEY = "openai_agents.branches"
USAGE_KEY = "openai_agents.usage"
MAIN = "main"


def stamp(moment: datetime | None = None) -> str:
    """A time as SQLite's ``CURRENT_TIMESTAMP`` writes it (the SDK's ``created_at``)."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class View:
    """What this process knows of one session: its revision, and its branches as last read or
    written. Valid while the stored revision is ``revision``."""

    revision: int | None
    """None: the session is not stored."""
    head: str = MAIN
    generation: int = 0
    used: list[str] = field(default_factory=lambda: [MAIN])
    branches: dict[str, dict[str, Any]] = field(default_factory=dict)
    usage: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    head_tip: str | None = None
    head_length: int = 0
    head_turns: int | None = None
    """User messages on the head's branch; None until counted."""
    started_at: str | None = None

    @classmethod
    def missing(cls) -> View:
        return cls(revision=None)

    @classmethod
    def of(cls, summary: SessionSummary, state: dict[str, JsonValue]) -> View:
        layout = state.get(BRANCHES_KEY)
        usage = state.get(USAGE_KEY)
        view = cls(revision=summary.revision, started_at=stamp(summary.started_at))
        if isinstance(layout, dict):
            layout = copy.deepcopy(layout)
            view.head = str(layout.get("head", MAIN))
            view.generation = int(layout.get("generation", 0))  # type: ignore[arg-type]
            view.used = [str(name) for name in layout.get("used", [MAIN])]  # type: ignore[union-attr]
            view.branches = dict(layout.get("branches", {}))  # type: ignore[arg-type]
        if isinstance(usage, dict):
            view.usage = copy.deepcopy(usage)  # type: ignore[arg-type]
        view.adopt(summary)
        return view

    def adopt(self, summary: SessionSummary) -> None:
        """Take the head's place from a summary the store just returned."""
        self.revision = summary.revision
        self.head_tip = summary.head
        self.head_length = summary.message_count

    def record(self, name: str) -> dict[str, Any]:
        """The record of branch ``name`` (a new, empty one for a branch not seen yet)."""
        found = self.branches.get(name)
        if found is None:
            order = 1 + max((int(r.get("order", 0)) for r in self.branches.values()), default=0)
            created = self.started_at if name == MAIN and self.started_at else stamp()
            found = self.branches[name] = {
                "tip": None,
                "length": 0,
                "turns": 0,
                "created_at": created,
                "order": 0 if name == MAIN else order,
                "shared_below": 0,
            }
        return found

    def length(self, name: str) -> int:
        if name == self.head:
            return self.head_length
        found = self.branches.get(name)
        return int(found["length"]) if found is not None else 0

    def names(self) -> list[str]:
        """Every branch known, the head's too, oldest first."""
        names = set(self.branches) | {self.head}
        return sorted(names, key=lambda n: (self.record(n)["created_at"], self.record(n)["order"]))

    def layout(self) -> dict[str, JsonValue]:
        return {
            "head": self.head,
            "generation": self.generation,
            "used": list(self.used),
            "branches": cast(JsonValue, copy.deepcopy(self.branches)),
        }

    def usage_value(self) -> JsonValue:
        """The usage rows as the state holds them (None, which removes the key, when none)."""
        return cast(JsonValue, copy.deepcopy(self.usage)) if self.usage else None
