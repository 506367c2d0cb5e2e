"""pytest-session-history, as its users run it: every fixture, under every async test plugin."""

from __future__ import annotations

import pytest

USER_TESTS = """
import re

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from pytest_session_history import assert_transcript
from session_history import ChatMessage

ASYNC = {async_mark}


def test_a_fresh_database_per_test(session_history_db):
    assert session_history_db.exists()
    assert session_history_db.stat().st_mode & 0o777 == 0o600


def test_the_sync_store_with_factory_hooks_and_assertions(
    session_history_sync, session_factory, session_history_hooks
):
    session = session_factory(turns=2)
    session_history_sync.create_session(session)
    loaded = session_history_sync.load_session(session.session_id)
    assert_transcript(
        loaded,
        [
            ("system", ...),
            ("user", "Question 1?"),
            ("assistant", None),
            ("tool", re.compile("Result 1")),
            ("assistant", "Answer 1."),
            ("user", "Question 2?"),
            ("assistant", None),
            ("tool", ...),
            ("assistant", re.compile("Answer")),
        ],
        tool_calls=[("search", {{"query": "question 1"}}), ("search", None)],
    )
    assert session_history_hooks.operations == ["create"]
    assert session_history_hooks.saved[0].summary.tool_call_count == 2


@pytest.mark.session_history(max_sessions=1)
def test_the_marker_configures_the_store(
    session_history_sync, session_factory, session_history_hooks
):
    for _ in range(3):
        session_history_sync.create_session(session_factory())
    assert session_history_sync.enforce_max_sessions() == 2
    assert session_history_hooks.pruned[0].reason == "max_sessions"
    assert session_history_hooks.pruned[0].ids == ["session-2", "session-1"]


def test_langchain(langchain_chat_history):
    langchain_chat_history.add_messages([HumanMessage("hi"), AIMessage("hello")])
    assert [m.content for m in langchain_chat_history.messages] == ["hi", "hello"]


if ASYNC is not None:

    @ASYNC
    async def test_the_async_store(session_history, session_factory, session_history_hooks):
        session = session_factory(turns=1)
        await session_history.create_session(session)
        await session_history.append_messages(session.session_id, session_factory.turn(2))
        loaded = await session_history.load_session(session.session_id)
        assert len(loaded.messages) == 9
        assert session_history_hooks.operations == ["create", "append"]

    @ASYNC
    async def test_both_doors_share_one_store(
        session_history, session_history_sync, session_factory
    ):
        await session_history.create_session(session_factory(session_id="shared"))
        assert session_history_sync.get_summary("shared").message_count == 5

    @ASYNC
    async def test_async_langchain(langchain_chat_history):
        await langchain_chat_history.aadd_messages([HumanMessage("async hi")])
        assert [m.content for m in await langchain_chat_history.aget_messages()] == ["async hi"]

{extra}
"""

MODULE_LOOP = """
@pytest.mark.asyncio(loop_scope="module")
async def test_a_module_scoped_loop(session_history, session_factory):
    await session_history.save_session(session_factory())
    assert await session_history.session_count() == 1
"""

ASYNCIO_INI = "[pytest]\nasyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"

MODES = {
    "pytest-asyncio strict": (
        "pytest.mark.asyncio",
        ASYNCIO_INI.format(mode="strict"),
        MODULE_LOOP,
        [],
        8,
    ),
    "pytest-asyncio auto": (
        "pytest.mark.asyncio",
        ASYNCIO_INI.format(mode="auto"),
        MODULE_LOOP,
        [],
        8,
    ),
    "anyio alone": ("pytest.mark.anyio", "[pytest]\n", "", ["-p", "no:asyncio"], 7),
    "no async plugin": ("None", "[pytest]\n", "", ["-p", "no:asyncio", "-p", "no:anyio"], 4),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_every_fixture_under_every_async_plugin(pytester: pytest.Pytester, mode: str) -> None:
    async_mark, ini, extra, flags, passed = MODES[mode]
    pytester.makeini(ini)
    pytester.makepyfile(test_user=USER_TESTS.format(async_mark=async_mark, extra=extra))
    result = pytester.runpytest_inprocess("-W", "error", "-p", "no:cacheprovider", *flags)
    result.assert_outcomes(passed=passed)
    assert result.ret == 0
    result.stdout.no_fnmatch_line("*Warning*")


FAILING = """
def test_that_fails(session_history_sync, session_factory):
    session_history_sync.create_session(session_factory(session_id="evidence"))
    assert False, "the agent misbehaved"


def test_that_passes(session_history_db):
    pass
"""


def test_keep_shows_the_database_of_a_failing_test(pytester: pytest.Pytester) -> None:
    pytester.makeini(ASYNCIO_INI.format(mode="strict"))
    pytester.makepyfile(test_fail=FAILING)
    result = pytester.runpytest_inprocess(
        "-W", "error", "--session-history-keep", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*session-history database*",
            "kept at */session-history.db",
            "browse it: session-history --db * list",
            "1 session(s):",
            "ID *AGENT *MODEL*",
            "evidence *test-agent *test-model*",
        ]
    )
    kept = list(pytester.path.parent.glob("**/test_that_fails0/session-history.db"))
    assert kept, "the failing test's database was not kept"


def test_without_keep_databases_are_removed_and_not_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fail=FAILING)
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", f"--basetemp={pytester.path / 'tmp'}"
    )
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.no_fnmatch_line("*session-history database*")
    assert not list((pytester.path / "tmp").glob("**/session-history.db"))


def test_the_command_line_beats_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.makeini(ASYNCIO_INI.format(mode="strict") + "session_history_keep = true\n")
    pytester.makepyfile(test_fail=FAILING)
    kept = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    kept.stdout.fnmatch_lines(["*session-history database*"])
    removed = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--session-history-no-keep")
    removed.stdout.no_fnmatch_line("*session-history database*")


def test_marker_plugins_are_registered(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plugins="""
import pytest
from session_history import hookimpl

class Counter:
    def __init__(self):
        self.deleted = []

    @hookimpl
    def session_history_deleted(self, session_id):
        self.deleted.append(session_id)

COUNTER = Counter()

@pytest.mark.session_history(plugins=[COUNTER])
def test_plugin(session_history_sync, session_factory):
    session_history_sync.create_session(session_factory(session_id="x"))
    session_history_sync.delete_session("x")
    assert COUNTER.deleted == ["x"]

@pytest.mark.session_history(colour="blue")
def test_unknown_option(session_history):
    pass
"""
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*unknown session_history option(s)*colour*"])


def test_not_registered_twice_when_a_conftest_names_it(pytester: pytest.Pytester) -> None:
    pytester.makeini(ASYNCIO_INI.format(mode="strict"))  # users' projects set it too
    pytester.makeconftest('pytest_plugins = ["pytest_session_history"]\n')
    pytester.makepyfile(
        test_one="def test_it(session_history_db):\n    assert session_history_db\n"
    )
    result = pytester.runpytest_inprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_under_xdist_each_worker_has_its_own_files(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_many="""
import os
import pytest

@pytest.mark.parametrize("i", range(8))
def test_one(i, session_history_sync, session_history_db, session_factory):
    session_history_sync.create_session(session_factory(session_id=f"s{i}"))
    assert session_history_sync.session_count() == 1
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    assert worker in {"gw0", "gw1"}
    assert worker in str(session_history_db)
"""
    )
    result = pytester.runpytest_inprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)


def test_fixtures_are_listed_with_their_docstrings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_inprocess("--fixtures", "-p", "no:cacheprovider")
    text = result.stdout.str()
    for name in (
        "session_history_db",
        "session_history ",
        "session_history_sync",
        "session_factory",
        "session_history_hooks",
        "session_history_recorder",
        "langchain_chat_history",
        "session_history_template",
    ):
        assert name in text, name
    section = text.split("pytest_session_history")[1]
    assert "no docstring available" not in section


def test_a_fixture_factory_gives_a_store_of_another_scope(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_factory="""
from pytest_session_history import factories

archive = factories.session_history_sync("archive", scope="module", max_sessions=2)

def test_first(archive, session_factory):
    archive.create_session(session_factory(session_id="a"))

def test_second_sees_the_first(archive, session_factory):
    assert [s.id for s in archive.list_sessions()] == ["a"]
    archive.create_session(session_factory(session_id="b"))
    archive.create_session(session_factory(session_id="c"))
    assert archive.enforce_max_sessions() == 1

# A door for each test onto a store that outlives it: the door leaves the store open.
shelf = factories.session_history("shelf", scope="module")
shelf_sync = factories.session_history_sync("shelf_sync", history="shelf")

def test_a_door_onto_a_module_store(shelf_sync, session_factory):
    shelf_sync.create_session(session_factory(session_id="x"))

def test_another_door_onto_it(shelf_sync):
    assert [s.id for s in shelf_sync.list_sessions()] == ["x"]
"""
    )
    pytester.makeini(ASYNCIO_INI.format(mode="strict"))
    result = pytester.runpytest_inprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_a_transcript_mismatch_reads_as_a_diff(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_diff="""
from pytest_session_history import assert_transcript
from session_history import ChatMessage

def test_diff():
    messages = [
        ChatMessage(role="user", content="hi"), ChatMessage(role="assistant", content="bye")
    ]
    assert_transcript(messages, [("user", "hi"), ("assistant", "hello")])
"""
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*the transcript differs from the expected one (- expected, + actual):",
            "E *  0. user: 'hi'",
            "E *- 1. assistant: 'hello'",
            "E *+ 1. assistant: 'bye'",
        ]
    )


LONG_MISMATCHES = """
import re

from pytest_session_history import assert_tool_calls, assert_transcript
from session_history import ChatMessage, ToolCall


def test_transcript():
    messages = [ChatMessage(role="user", content=f"line {i}") for i in range(30)]
    expected = [("user", f"line {i}") for i in range(30)]
    expected[3] = ("user", re.compile("^line 3$"))
    expected[7] = ("assistant", "line 7")
    expected[28] = ("user", "other")
    assert_transcript(messages, expected[:29])


def test_tool_calls():
    calls = [ToolCall(id=f"c{i}", name="f", arguments={"i": i}) for i in range(20)]
    messages = [ChatMessage(role="assistant", tool_calls=[call]) for call in calls]
    assert_transcript(
        messages,
        [("assistant", None)] * 20,
        tool_calls=[("f", {"i": i}) for i in range(18)] + [("g", None)],
    )
"""


def test_a_failing_assertion_shows_the_whole_diff_and_none_of_the_library(
    pytester: pytest.Pytester,
) -> None:
    """Without -v: every line of the transcript, marked, and no frame of the helpers."""
    pytester.makeini(ASYNCIO_INI.format(mode="strict"))
    pytester.makepyfile(test_long=LONG_MISMATCHES)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "assertions.py" not in out and "def assert_transcript" not in out
    assert "Use -v" not in out and "truncated" not in out
    result.stdout.fnmatch_lines(
        [
            "*> *assert_transcript(messages, expected*",
            "E       AssertionError: the transcript differs from the expected one"
            " (- expected, + actual):",
            "E *  0. user: 'line 0'",
            "E *  3. user: /^line 3$/",  # a matching line is shown as the test wrote it
            "E *  6. user: 'line 6'",
            "E *- 7. assistant: 'line 7'",
            "E *+ 7. user: 'line 7'",
            "E *  27. user: 'line 27'",
            "E *- 28. user: 'other'",
            "E *+ 28. user: 'line 28'",
            "E *- 29. (nothing more)",
            "E *+ 29. user: 'line 29'",
            "*test_long.py:*: AssertionError",
            "*> *assert_transcript(",
            "E       AssertionError: the tool calls differ from the expected ones"
            ' (mode="strict": the same calls in the same order):',
            "E         expected            actual",  # side by side
            'E         0. f({"i": 0})      0. f({"i": 0})',
            'E         17. f({"i": 17})    17. f({"i": 17})',
            'E         18. g(...)       != 18. f({"i": 18})',
            'E         (nothing more)   != 19. f({"i": 19})',
        ]
    )


def test_langchain_fixture_skips_with_a_reason_without_the_adapter(
    pytester: pytest.Pytester,
) -> None:
    # As if langchain-session-history were not installed: importing it fails.
    pytester.makeconftest('import sys\nsys.modules["langchain_session_history"] = None\n')
    pytester.makepyfile(test_lc="def test_it(langchain_chat_history):\n    pass\n")
    result = pytester.runpytest_inprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*langchain-session-history is not installed; it is not on PyPI: from a checkout of "
            'session-history, run pip install -e . -e "./integrations/langchain"'
        ]
    )
    assert "pytest-session-history[langchain]" not in result.stdout.str()
