"""The pydantic-ai door's fixtures, as users run them: under pytest-asyncio (strict and auto),
anyio, and plain tests; their factories; a skip that says how to install the integration; and a
plugin that never imports a framework itself."""

from __future__ import annotations

import subprocess
import sys

import pytest

USER_TESTS = """
import pytest
from pydantic_ai import Agent
from pydantic_ai.conversation import Conversation
from pydantic_ai.models.test import TestModel

from pytest_session_history import doors_pydantic_ai

agent = Agent(TestModel(custom_output_text="Hi there"))
archive = doors_pydantic_ai.conversation_store("archive", history="session_history")
ASYNC = {async_mark}


def test_pydantic_ai_history_in_a_plain_test(pydantic_ai_history, session_history_sync):
    pydantic_ai_history.run_sync(agent, "Hello", session_id="s")
    assert session_history_sync.get_summary("s").message_count == 2


if ASYNC is not None:

    @ASYNC
    async def test_conversation_store(conversation_store, archive):
        result = await agent.run("Hello", conversation=Conversation(conversation_id="c"))
        await conversation_store.save(result)
        loaded = await archive.load("c")  # another store on the same database
        assert loaded.messages == result.all_messages()
        assert archive is not conversation_store
"""

ASYNCIO = "asyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"
MODES = {
    "pytest-asyncio strict": ("pytest.mark.asyncio", ASYNCIO.format(mode="strict"), [], 2),
    "pytest-asyncio auto": ("pytest.mark.asyncio", ASYNCIO.format(mode="auto"), [], 2),
    "anyio": ("pytest.mark.anyio", "", ["-p", "no:asyncio"], 2),
    "no async plugin": ("None", "", ["-p", "no:asyncio", "-p", "no:anyio"], 1),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_the_fixtures_under_every_async_plugin(pytester: pytest.Pytester, mode: str) -> None:
    mark, ini, args, passed = MODES[mode]
    pytester.makeini("[pytest]\nfilterwarnings = error\n" + ini)
    if mode == "anyio":
        pytester.makeconftest(
            "import pytest\n\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n"
        )
    pytester.makepyfile(test_user=USER_TESTS.format(async_mark=mark))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-W", "error", *args)
    result.assert_outcomes(passed=passed)


def test_the_fixtures_skip_with_how_to_install_without_the_integration(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest('import sys\nsys.modules["pydantic_ai_session_history"] = None\n')
    pytester.makepyfile(
        test_x="def test_a(conversation_store):\n    pass\n\n"
        "def test_b(pydantic_ai_history):\n    pass\n"
    )
    result = pytester.runpytest_inprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*pydantic-ai-session-history is not installed; it is not on PyPI: from a checkout "
            'of session-history, run pip install -e . -e "./integrations/pydantic_ai"'
        ]
    )


def test_the_fixtures_have_docstrings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    text = pytester.runpytest_inprocess("--fixtures", "-p", "no:cacheprovider").stdout.str()
    for name in ("conversation_store", "pydantic_ai_history"):
        listed = text.split(f"\n{name} -- ")[1].split("\n\n")[0]
        assert "no docstring available" not in listed and "ConversationStore" in text, name


def test_importing_the_plugin_imports_no_framework() -> None:
    code = (
        "import sys, pytest_session_history\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pydantic_ai', 'pydantic_ai_session_history')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
