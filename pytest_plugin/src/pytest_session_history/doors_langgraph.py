"""The LangGraph door's fixture: a ``SessionCheckpointer`` on a test's store.

Nothing here imports LangGraph or the integration until a test asks for the fixture, so the
plugin loads in projects without them.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from session_history import SessionHistory

from .factories import Fixture, Scope

__all__ = ["langgraph_checkpointer", "langgraph_checkpointer_fixture"]

_MISSING = (
    "langchain-session-history (with LangGraph) is not installed; it is not on PyPI: from a "
    'checkout of session-history, run pip install -e . -e "./integrations/langchain[agents]"'
)


def langgraph_checkpointer_fixture(
    name: str,
    *,
    history: str = "session_history",
    scope: Scope = "function",
    keep: int | None = None,
    agent_name: str = "langgraph",
    doc: str | None = None,
) -> Fixture:
    """A fixture named ``name`` giving a LangGraph ``SessionCheckpointer`` on the store of the
    ``SessionHistory`` fixture ``history`` (make that one with ``factories.session_history``
    for a checkpointer on a database of its own), with ``keep`` and ``agent_name``."""

    def fixture(**args: object) -> Any:
        store = args[history]
        assert isinstance(store, SessionHistory), f"{history} is not a SessionHistory fixture"
        adapter = pytest.importorskip("langchain_session_history", reason=_MISSING)
        pytest.importorskip("langgraph", reason=_MISSING)
        return adapter.SessionCheckpointer(store, keep=keep, agent_name=agent_name)

    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    fixture.__signature__ = inspect.Signature([inspect.Parameter(history, kind)])  # type: ignore[attr-defined]
    fixture.__doc__ = doc or f"A LangGraph SessionCheckpointer on ``{history}``."
    return pytest.fixture(fixture, scope=scope, name=name)


langgraph_checkpointer = langgraph_checkpointer_fixture(
    "langgraph_checkpointer",
    doc="""A LangGraph ``SessionCheckpointer`` on this test's store (``session_history``), for
    ``graph.compile(checkpointer=...)`` and ``create_agent(..., checkpointer=...)``, in sync
    and async tests alike: every thread is a session of the store. For more of them, each on a
    database of its own: ``langgraph_checkpointer_fixture("name", history=...)``. Skipped, with
    how to install it, when langchain-session-history or LangGraph is missing.""",
)
