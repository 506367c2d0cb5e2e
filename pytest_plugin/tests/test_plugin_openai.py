"""The OpenAI Agents SDK fixtures: ``openai_session`` and its factory, on the test's store."""

from __future__ import annotations

from typing import Any

import pytest

from session_history import SessionHistory


async def test_openai_session_is_a_session_on_the_tests_store(
    openai_session: Any, session_history: SessionHistory, request: pytest.FixtureRequest
) -> None:
    await openai_session.add_items([{"role": "user", "content": "hi"}])
    assert await openai_session.get_items() == [{"role": "user", "content": "hi"}]
    summary = await session_history.get_summary(f"test-{request.node.name}")
    assert summary is not None and summary.message_count == 1


async def test_the_factory_makes_independent_sessions_and_objects_of_one_session(
    openai_session_factory: Any,
) -> None:
    first, second = openai_session_factory(), openai_session_factory()
    assert first.session_id != second.session_id
    await first.add_items([{"role": "user", "content": "one"}])
    assert await second.get_items() == []

    a, b = openai_session_factory("shared"), openai_session_factory("shared", model="m")
    await a.add_items([{"role": "user", "content": "q1"}, {"role": "user", "content": "q2"}])
    await a.create_branch_from_turn(2, "retry")
    assert b._current_branch_id == "main"  # each object has its own current branch
    assert len(await b.get_items()) == 2


def test_openai_session_in_a_plain_test(openai_session: Any) -> None:
    assert openai_session.session_id.startswith("test-")


def test_the_fixtures_are_listed_with_their_docstrings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    text = pytester.runpytest_inprocess("--fixtures", "-p", "no:cacheprovider").stdout.str()
    assert "openai_session " in text and "openai_session_factory" in text
    assert "AdvancedSQLiteSession" in text


def test_the_fixture_says_how_to_install_the_door_when_it_is_missing(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest('import sys\nsys.modules["openai_agents_session_history"] = None\n')
    pytester.makepyfile(
        test_oa="def test_it(openai_session):\n    pass\n\n"
        "def test_factory(openai_session_factory):\n    pass\n"
    )
    result = pytester.runpytest_inprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*openai-agents-session-history is not installed; it is not on PyPI: from a checkout "
            'of session-history, run pip install -e . -e "./integrations/openai_agents"'
        ]
    )


def test_importing_the_plugin_imports_no_framework(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_imports="""
import subprocess, sys

def test_it():
    code = (
        "import sys, pytest_session_history; "
        "print('agents' in sys.modules, 'openai_agents_session_history' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"], out.stderr
"""
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
