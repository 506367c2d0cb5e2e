"""pytest-session-history: a real, throwaway session-history store per test.

This module is the pytest plugin (entry point ``pytest11``, named after this module so that a
conftest's ``pytest_plugins = ["pytest_session_history"]`` names the same plugin). It adds the
options, the ``session_history`` marker, the failure report, and the fixtures of
:mod:`.fixtures`; the helpers are importable from here: transcripts (:mod:`.assertions`,
:mod:`.transcript`), tool-call trajectories (:mod:`.trajectory`), token budgets
(:mod:`.budget`) and replay models (:mod:`.replay`).
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from session_history.testing import describe_database

from . import backends, doors_pydantic_ai, factories
from .assertions import assert_transcript
from .budget import assert_usage
from .builders import SessionFactory
from .doors_langgraph import langgraph_checkpointer, langgraph_checkpointer_fixture
from .doors_openai import openai_session, openai_session_factory
from .doors_pydantic_ai import conversation_store_fixture, pydantic_ai_history_fixture
from .fixtures import (
    langchain_chat_history,
    session_factory,
    session_history,
    session_history_backend,
    session_history_config,
    session_history_db,
    session_history_hooks,
    session_history_recorder,
    session_history_sync,
    session_history_template,
)
from .options import add_options, keep_databases
from .recorder import DeletedCall, HookRecorder, PoppedCall, PrunedCall, SavedCall
from .replay import hide_framework_frames, replay_model
from .store import DB_KEY, compare
from .trajectory import assert_tool_calls
from .transcript import normalized_transcript

__all__ = [
    "DeletedCall",
    "HookRecorder",
    "PoppedCall",
    "PrunedCall",
    "SavedCall",
    "SessionFactory",
    "assert_tool_calls",
    "assert_transcript",
    "assert_usage",
    "conversation_store_fixture",
    "doors_pydantic_ai",
    "factories",
    "langchain_chat_history",
    "langgraph_checkpointer",
    "langgraph_checkpointer_fixture",
    "normalized_transcript",
    "openai_session",
    "openai_session_factory",
    "pydantic_ai_history_fixture",
    "replay_model",
    "session_factory",
    "session_history",
    "session_history_backend",
    "session_history_config",
    "session_history_db",
    "session_history_hooks",
    "session_history_recorder",
    "session_history_sync",
    "session_history_template",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "session_history(max_sessions=None, max_age=None, plugins=(), "
        "load_entrypoint_plugins=False, backends=None): configure this test's stores; "
        "backends=['sqlite'] or ['postgresql'] narrows where it runs",
    )
    backends.driver_check(config)


def pytest_assertrepr_compare(op: str, left: object, right: object) -> list[str] | None:
    return compare(op, left, right)


def pytest_report_header(config: pytest.Config) -> str | None:
    return backends.header(config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    backends.parametrize(metafunc)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    backends.deselect_unavailable(config, items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    if call.excinfo is not None and not item.config.getoption("fulltrace", False):
        hide_framework_frames(call.excinfo)  # a replay mismatch: the test's lines, then ours
    report = yield
    if report.when == "call" and report.failed and keep_databases(item.config):
        path = item.stash.get(DB_KEY, None)
        if path is not None:
            report.sections.append(("session-history database", describe_database(path)))
    return report
