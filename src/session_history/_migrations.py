"""Versioned schema migrations: ordered, named functions, recorded in the database.

A backend keeps one :class:`Migrations` list and registers each step with it as a decorator::

    migrations = Migrations()

    @migrations
    def m001_initial(conn): ...

The name of a function is its permanent identity: it is what the database records once the step
is applied, so a step is never renamed, reordered or removed, and a duplicate name is an error.
Opening a store applies the steps the database has not recorded, each in one transaction together
with its record. A database that records a name this code does not know was written by a newer
version and is refused untouched (:class:`~session_history.SchemaTooNewError`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from ._errors import SchemaTooNewError

__all__ = ["Migration", "Migrations"]

C = TypeVar("C")
R = TypeVar("R")


@dataclass(frozen=True)
class Migration(Generic[C, R]):
    """One step of a schema's history."""

    name: str
    apply: Callable[[C], R]


class Migrations(Generic[C, R]):
    """The ordered migrations of one backend: each step takes a ``C`` (a connection) and returns
    an ``R`` (``None``, or an awaitable for an async driver)."""

    def __init__(self) -> None:
        self._steps: list[Migration[C, R]] = []

    def __call__(self, fn: Callable[[C], R]) -> Callable[[C], R]:
        name = fn.__name__
        if any(step.name == name for step in self._steps):
            raise ValueError(
                f"duplicate migration name {name!r}: names are permanent, pick a new one"
            )
        self._steps.append(Migration(name, fn))
        return fn

    def __iter__(self) -> Iterator[Migration[C, R]]:
        return iter(self._steps)

    @property
    def names(self) -> list[str]:
        return [step.name for step in self._steps]

    def pending(self, applied: Collection[str]) -> list[Migration[C, R]]:
        """The steps not yet applied, in order."""
        return [step for step in self._steps if step.name not in applied]

    def check_not_newer(self, applied: Collection[str], *, path: str | Path) -> None:
        """Refuse a database that records steps this code does not know."""
        unknown = sorted(set(applied) - set(self.names))
        if unknown:
            raise SchemaTooNewError(
                f"{path} was written by a newer version of session-history (unknown schema "
                f"migration(s): {', '.join(unknown)}); upgrade session-history to open it. "
                "The database was not changed.",
                path=path,
                unknown=unknown,
            )
