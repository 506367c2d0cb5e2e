"""The pydantic-ai door's fixtures, and their factories (as :mod:`.factories`' are)::

    from pytest_session_history import doors_pydantic_ai

    archive_store = doors_pydantic_ai.conversation_store("archive_store", history="archive")

pydantic-ai-session-history is imported when a fixture is set up, never when the plugin is
loaded: a test suite without pydantic-ai runs as before, and a test that asks for one of these
fixtures without the integration is skipped with a line that says how to install it.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from session_history import SessionHistory

from .factories import Fixture, Scope, _taking

__all__ = [
    "conversation_store",
    "conversation_store_fixture",
    "pydantic_ai_history",
    "pydantic_ai_history_fixture",
]

_INSTALL = (
    # Not on PyPI: it installs from a checkout of session-history.
    "pydantic-ai-session-history is not installed; it is not on PyPI: from a checkout of "
    'session-history, run pip install -e . -e "./integrations/pydantic_ai"'
)


def _door() -> ModuleType:
    door: ModuleType = pytest.importorskip("pydantic_ai_session_history", reason=_INSTALL)
    return door


def _history(args: dict[str, object], name: str) -> SessionHistory:
    store = args[name]
    assert isinstance(store, SessionHistory), f"{name} is not a SessionHistory fixture"
    return store


def conversation_store(
    name: str,
    *,
    history: str = "session_history",
    scope: Scope = "function",
    agent_name: str | None = None,
    doc: str | None = None,
) -> Fixture:
    """A fixture named ``name`` giving a ``HistoryConversationStore`` on the store of fixture
    ``history`` (a ``SessionHistory`` fixture: the test's own by default, on every backend the
    run selects)."""

    @_taking((history,))
    def fixture(**args: object) -> Any:
        options = {"agent_name": agent_name} if agent_name is not None else {}
        return _door().HistoryConversationStore(_history(args, history), **options)

    fixture.__doc__ = doc or f"A pydantic-ai HistoryConversationStore on ``{history}``."
    return pytest.fixture(fixture, scope=scope, name=name)


def pydantic_ai_history(
    name: str,
    *,
    history: str = "session_history",
    scope: Scope = "function",
    agent_name: str | None = None,
    doc: str | None = None,
) -> Fixture:
    """A fixture named ``name`` giving a ``PydanticAIHistory`` on the store of fixture
    ``history``."""

    @_taking((history,))
    def fixture(**args: object) -> Any:
        return _door().PydanticAIHistory(_history(args, history), agent_name=agent_name)

    fixture.__doc__ = doc or f"A pydantic-ai PydanticAIHistory on ``{history}``."
    return pytest.fixture(fixture, scope=scope, name=name)


conversation_store_fixture = conversation_store(
    "conversation_store",
    doc="""pydantic-ai's ``ConversationStore`` on this test's store: a
    ``HistoryConversationStore`` (pydantic-ai-session-history), for ``store.load``/``store.save``
    around ``agent.run(conversation=...)`` and the UI adapters' ``conversation_store=``. Runs on
    every backend the run selects; ``doors_pydantic_ai.conversation_store(name, history=...)``
    makes more. Skipped when pydantic-ai-session-history is not installed.""",
)

pydantic_ai_history_fixture = pydantic_ai_history(
    "pydantic_ai_history",
    doc="""A ``PydanticAIHistory`` (pydantic-ai-session-history) on this test's store, for
    ``message_history=``: ``await pydantic_ai_history.run(agent, prompt, session_id=...)``. Runs
    on every backend the run selects; ``doors_pydantic_ai.pydantic_ai_history(name,
    history=...)`` makes more. Skipped when pydantic-ai-session-history is not installed.""",
)
