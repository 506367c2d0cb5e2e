"""A failing test's report never shows the PostgreSQL password of its database: not as the
fixture's value (``-l``), not in an assertion's values or diff, not in the report of a kept
database (issue 20). Run with pytester against the real server, with a password in the URL (a
server that trusts the client, as the one of the tests does, ignores it)."""

from __future__ import annotations

import re

import pytest

from pytest_session_history.options import database_url
from session_history import testing

ASYNCIO_INI = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"

PARTS = ("Kx7Qm", "Zr9Pw")
"""The halves of the password: neither may show."""

FAILING = """
def test_equal(session_history_db):
    assert session_history_db == "postgresql://elsewhere/db"

def test_contains(session_history_db):
    assert "nothing" in session_history_db

def test_not_contains(session_history_db):
    assert "postgres" not in session_history_db

def test_locals(session_history_db):
    where = session_history_db
    assert not where

def test_config(session_history_config):
    assert session_history_config is None

def test_store(session_history_sync, session_factory):
    session_history_sync.create_session(session_factory())
    assert session_history_sync.session_count() == 2
"""


@pytest.mark.session_history(backends=["postgresql"])  # deselected without a server
@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+asyncpg"])
def test_a_failing_tests_report_never_shows_the_database_password(
    pytester: pytest.Pytester, request: pytest.FixtureRequest, scheme: str
) -> None:
    url = database_url(request.config)
    assert url is not None
    _, rest = url.split("://", 1)
    user, _, host = rest.partition("@")
    secret = f"{scheme}://{user.split(':')[0]}:{PARTS[0]}%2F{PARTS[1]}@{host}"
    pytester.makeini(ASYNCIO_INI)
    pytester.makepyfile(test_failing=FAILING)
    result = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "-l",
        "-vv",
        "-rA",
        "--session-history-keep",
        f"--session-history-url={secret}",
    )
    output = "\n".join([*result.outlines, *result.errlines])
    try:
        result.assert_outcomes(failed=6)
        for part in PARTS:
            assert part not in output
        assert "://postgres:***@" in output  # what is shown instead
        assert "kept at postgres" in output  # the kept database's report, hidden too
    finally:
        for schema in set(re.findall(r"schema=(pytest_[0-9a-f]{16})", output)):
            testing.drop_schema(testing.with_schema(url, schema))
