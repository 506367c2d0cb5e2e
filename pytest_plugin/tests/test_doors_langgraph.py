"""The langgraph_checkpointer fixture, as users run it: sync, pytest-asyncio, anyio, a factory."""

from __future__ import annotations

import pytest

GRAPH_TESTS = """
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from pytest_session_history import langgraph_checkpointer_fixture, factories

other_store = factories.session_history("other_store")
other_checkpointer = langgraph_checkpointer_fixture("other_checkpointer", history="other_store")


def graph(checkpointer):
    g = StateGraph(MessagesState)
    g.add_node("reply", lambda state: {{"messages": [AIMessage("hello")]}})
    g.add_edge(START, "reply")
    return g.compile(checkpointer=checkpointer)


CONFIG = {{"configurable": {{"thread_id": "t"}}}}


def test_sync(langgraph_checkpointer, session_history_sync):
    graph(langgraph_checkpointer).invoke({{"messages": [HumanMessage("hi")]}}, CONFIG)
    assert [m.content for m in session_history_sync.load_messages("t")] == ["hi", "hello"]


def test_two_independent_checkpointers(langgraph_checkpointer, other_checkpointer, other_store):
    graph(langgraph_checkpointer).invoke({{"messages": [HumanMessage("one")]}}, CONFIG)
    graph(other_checkpointer).invoke({{"messages": [HumanMessage("two")]}}, CONFIG)
    state = graph(langgraph_checkpointer).get_state(CONFIG)
    assert [m.content for m in state.values["messages"]] == ["one", "hello"]


@{async_mark}
async def test_async(langgraph_checkpointer, session_history):
    await graph(langgraph_checkpointer).ainvoke({{"messages": [HumanMessage("hi")]}}, CONFIG)
    assert (await session_history.get_summary("t")).message_count == 2
"""

MODES = {
    "pytest-asyncio strict": ("pytest.mark.asyncio", "strict", []),
    "pytest-asyncio auto": ("pytest.mark.asyncio", "auto", []),
    "anyio": ("pytest.mark.anyio", None, ["-p", "no:asyncio"]),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_the_checkpointer_fixture_in_sync_and_async_tests(
    pytester: pytest.Pytester, mode: str
) -> None:
    mark, asyncio_mode, flags = MODES[mode]
    if asyncio_mode is not None:
        pytester.makeini(
            f"[pytest]\nasyncio_mode = {asyncio_mode}\n"
            "asyncio_default_fixture_loop_scope = function\n"
        )
    else:
        pytester.makeini("[pytest]\n")
        pytester.makeconftest(
            "import pytest\n\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n"
        )
    pytester.makepyfile(test_graph=GRAPH_TESTS.format(async_mark=mark))
    result = pytester.runpytest_inprocess("-W", "error", "-p", "no:cacheprovider", *flags)
    result.assert_outcomes(passed=3)


def test_the_checkpointer_fixture_skips_saying_how_to_install(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('import sys\nsys.modules["langchain_session_history"] = None\n')
    pytester.makepyfile(test_lg="def test_it(langgraph_checkpointer):\n    pass\n")
    result = pytester.runpytest_inprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ['*it is not on PyPI: from a checkout of session-history, run pip install -e . -e "*']
    )


def test_the_checkpointer_fixture_has_a_docstring(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_inprocess("--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        ["langgraph_checkpointer*", "*A LangGraph ``SessionCheckpointer``*"]
    )
