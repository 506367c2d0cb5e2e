"""Which backends a run uses: PostgreSQL stores per test, a test once per backend asked for,
the URL and the marker in factories, and what a run does when a backend cannot run."""

from __future__ import annotations

import pytest

from pytest_session_history.options import URL_ENV_VAR, database_url

ASYNCIO_INI = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"

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


@pytest.mark.session_history(backends=["postgresql"])  # deselected without a server
def test_a_postgresql_backed_store_per_test(
    pytester: pytest.Pytester, request: pytest.FixtureRequest
) -> None:
    url = database_url(request.config)
    pytester.makeini(ASYNCIO_INI)
    pytester.makepyfile(
        test_pg="""
import pytest

@pytest.mark.parametrize("i", range(3))
def test_own_schema(i, session_history_sync, session_history_db, session_factory):
    assert str(session_history_db).startswith("postgresql://")
    assert "schema=pytest_" in str(session_history_db)
    session_history_sync.create_session(session_factory(session_id=f"s{i}"))
    assert session_history_sync.session_count() == 1  # nothing from the other tests

@pytest.mark.asyncio
async def test_async(session_history, session_factory):
    await session_history.create_session(session_factory())
    hits = await session_history.search("Answer")
    assert hits and hits[0].session_id == "session-1"
"""
    )
    result = pytester.runpytest_inprocess(
        "-W", "error", "-p", "no:cacheprovider", f"--session-history-url={url}"
    )
    result.assert_outcomes(passed=4)


BOTH_BACKENDS = """
import pytest

def test_each_backend(session_history_sync, session_history_backend, session_history_db):
    assert str(session_history_db).startswith(
        "postgresql://" if session_history_backend == "postgresql" else "/"
    )
    session_history_sync.create_session(__import__("session_history").Session(
        session_id="s", agent_name="a", model="m"))
    assert session_history_sync.session_count() == 1

@pytest.mark.session_history(backends=["postgresql"])
def test_only_on_postgresql(session_history_backend):
    assert session_history_backend == "postgresql"

@pytest.mark.session_history(backends=["postgresql"])
def test_without_a_store():
    pass
"""


@pytest.mark.session_history(backends=["postgresql"])
def test_a_test_runs_once_per_backend_asked_for(
    pytester: pytest.Pytester, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"--session-history-url={database_url(request.config)}"
    monkeypatch.delenv("SESSION_HISTORY_TEST_POSTGRES_URL", raising=False)
    pytester.makepyfile(test_both=BOTH_BACKENDS)
    both = ["-p", "no:cacheprovider", "-W", "error", "--session-history-backends=sqlite,postgresql"]
    result = pytester.runpytest_inprocess(*both, url, "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*test_each_backend?sqlite? PASSED*",
            "*test_each_backend?postgresql? PASSED*",
            "*test_only_on_postgresql?postgresql? PASSED*",
            "*test_without_a_store PASSED*",
        ]
    )
    # Without a URL: the PostgreSQL half is left out, said once in the header, not skipped.
    result = pytester.runpytest_inprocess(*both, "-rs")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["session-history: the PostgreSQL tests are not run (no URL)*"])
    result.stdout.no_fnmatch_line("*SKIPPED*")


def test_a_single_backend_leaves_test_ids_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_it(session_history_db):\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-v")
    result.stdout.fnmatch_lines(["*test_one.py::test_it PASSED*"])


def test_an_unknown_backend_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_it():\n    pass\n")
    result = pytester.runpytest_inprocess("--session-history-backends=sqlite,mysql")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown session-history backend 'mysql'*"])


def test_postgresql_without_the_driver_is_one_line_naming_the_extra(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if it were not installed
    pytester.makepyfile(test_one="def test_it(session_history):\n    pass\n")
    result = pytester.runpytest_inprocess("--session-history-url=postgresql://u@h/db")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    # From a checkout: the package is not on PyPI, so not pip install "session-history[postgres]".
    result.stderr.fnmatch_lines(['*not on PyPI*pip install -e ".[[]postgres[]]"*'])
    assert "session-history[postgres]" not in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


FACTORY_WITH_MARKER = """
import pytest
from pytest_session_history import factories

pytestmark = pytest.mark.session_history(max_sessions=1)

archive = factories.session_history_sync("archive", scope="module")
config = factories.session_history_config("config", db="archive_db_location")
archive_db_location = factories.session_history_db("archive_db_location", scope="module")

def test_the_factory_store_follows_the_run_and_the_marker(archive, session_factory):
    for sid in ("a", "b", "c"):
        archive.create_session(session_factory(session_id=sid))
    assert archive.enforce_max_sessions() == 2  # the module's marker
    assert archive.config.location.startswith("postgresql://")  # --session-history-url

def test_a_config_factory(config):
    assert config.max_sessions == 1 and config.url is not None
"""


@pytest.mark.session_history(backends=["postgresql"])
def test_factories_honour_the_url_and_the_marker(
    pytester: pytest.Pytester, request: pytest.FixtureRequest
) -> None:
    pytester.makepyfile(test_factory=FACTORY_WITH_MARKER)
    result = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "-W",
        "error",
        f"--session-history-url={database_url(request.config)}",
    )
    result.assert_outcomes(passed=2)
