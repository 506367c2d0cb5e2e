"""Fixture factories, for more than one store or another scope (as pytest-postgresql's)::

from pytest_session_history import factories

archive = factories.session_history("archive", scope="module", max_sessions=10)
archive_sync = factories.session_history_sync("archive_sync", scope="module")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any, Literal

import pytest

from session_history import SessionHistory, SyncSessionHistory

from .store import copy_template, open_store

__all__ = ["session_history", "session_history_sync"]

Scope = Literal["session", "package", "module", "class", "function"]


def session_history(
    name: str,
    *,
    scope: Scope = "function",
    max_sessions: int | None = None,
    max_age: timedelta | float | None = None,
    plugins: Sequence[object] = (),
) -> Callable[..., Any]:
    """A fixture named ``name`` giving an open ``SessionHistory`` on its own database, for
    ``scope``. Assign it to a module-level name in a conftest or test module."""
    options = {"max_sessions": max_sessions, "max_age": max_age, "plugins": plugins}
    return _store_fixture(name, scope, options, blocking=False)


def session_history_sync(
    name: str,
    *,
    scope: Scope = "function",
    max_sessions: int | None = None,
    max_age: timedelta | float | None = None,
    plugins: Sequence[object] = (),
) -> Callable[..., Any]:
    """Like :func:`session_history`, giving a ``SyncSessionHistory``."""
    options = {"max_sessions": max_sessions, "max_age": max_age, "plugins": plugins}
    return _store_fixture(name, scope, options, blocking=True)


def _store_fixture(
    name: str, scope: Scope, options: dict[str, Any], *, blocking: bool
) -> Callable[..., Any]:
    @pytest.fixture(scope=scope, name=name)
    def fixture(
        tmp_path_factory: pytest.TempPathFactory, session_history_template: Any
    ) -> Iterator[SessionHistory | SyncSessionHistory]:
        path = copy_template(session_history_template, tmp_path_factory.mktemp(name) / "history.db")
        with open_store(path, options) as history:
            if not blocking:
                yield history
                return
            door = SyncSessionHistory.wrap(history)
            yield door
            door.close()

    kind = "SyncSessionHistory" if blocking else "SessionHistory"
    fixture.__doc__ = f"An open {kind} on its own database, scope {scope!r}."
    return fixture
