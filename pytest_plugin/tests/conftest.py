"""The plugin's own tests run users' test files with pytester, in-process (a subprocess costs a
second or two of interpreter start-up per run)."""

import pytest

pytest_plugins = ["pytester"]

ASYNCIO_INI = "[pytest]\nasyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"


@pytest.fixture(autouse=True)
def _users_ini(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Users' projects set pytest-asyncio's loop scope (unset, it warns at start-up); a test
    that writes an ini file of its own replaces this one.

    Hypothesis' pytest plugin (installed for the core's stateful test; no user file here uses
    it) imports hypothesis in its terminal summary, and pytester forgets the modules a run
    imported: unless hypothesis was imported before the run, each run imports it again, about
    0.8 s. It is left out of the runs (the plugin's tests alone: 23 s -> 5 s).
    """
    pytester.makeini(ASYNCIO_INI.format(mode="strict"))
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
