"""Backends that cannot run: what a run asked only for them does."""

from __future__ import annotations

import pytest

from pytest_session_history.options import URL_ENV_VAR

STORE_TESTS = """
from pytest_session_history import factories

archive = factories.session_history_sync("archive", scope="module")

def test_a_store(session_history_sync):
    pass

def test_a_module_store(archive):
    pass

def test_no_store():
    pass
"""


def test_postgresql_alone_without_a_url_leaves_the_store_tests_out(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No backend can run: every test needing a database, of any scope, is deselected and the
    header says why, instead of an error per test."""
    monkeypatch.delenv(URL_ENV_VAR, raising=False)
    pytester.makepyfile(test_stores=STORE_TESTS)
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-W", "error", "--session-history-backends=postgresql"
    )
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["session-history: the PostgreSQL tests are not run (no URL)*"])
