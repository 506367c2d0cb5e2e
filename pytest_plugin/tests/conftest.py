"""The plugin's own tests run users' test files with pytester, in-process (a subprocess costs a
second or two of interpreter start-up per run)."""

import pytest

pytest_plugins = ["pytester"]

ASYNCIO_INI = "[pytest]\nasyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"


@pytest.fixture(autouse=True)
def _users_ini(pytester: pytest.Pytester) -> None:
    """Users' projects set pytest-asyncio's loop scope (unset, it warns at start-up); a test
    that writes an ini file of its own replaces this one."""
    pytester.makeini(ASYNCIO_INI.format(mode="strict"))
