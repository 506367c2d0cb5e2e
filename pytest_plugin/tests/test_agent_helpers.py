"""The agent-testing helpers as users run them (pytester, in-process, ``-W error``), under
pytest-asyncio and under anyio alone: what passes, and what a failure prints.

The passing side includes the README's "Testing agents" examples, one per framework (record,
snapshot, replay, trajectory, budget): each runs here under both async plugins, as well as by
tests/test_docs.py. The failing side is ``agent_cases.py``: one failing test per kind of
failure, whose output is pinned below.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import pytest_session_history
from pytest_session_history import (
    HookRecorder,
    assert_tool_calls,
    assert_usage,
    normalized_transcript,
    replay_model,
)
from session_history import ChatMessage, InvalidQueryError, Session, SyncSessionHistory, ToolCall

# pytester forgets the modules an in-process run imports: imported here, once, the frameworks
# are not imported afresh (seconds each) by every run.
for _module in (
    "langchain_session_history.middleware",
    "langchain_session_history.replay",
    "openai_agents_session_history.replay",
    "pydantic_ai_session_history.replay",
):
    importlib.import_module(_module)

README = Path(__file__).resolve().parents[2] / "README.md"
CASES = Path(__file__).with_name("agent_cases.py")
ASYNCIO_INI = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"

MODES = {  # (the mark every async test gets, the ini file, the command-line flags)
    "pytest-asyncio": ("asyncio", ASYNCIO_INI, []),
    "anyio": ("anyio", "[pytest]\n", ["-p", "no:asyncio"]),
}


def readme_examples() -> list[str]:
    """The Python blocks of the README's "Testing agents" section that hold tests."""
    text = README.read_text()
    start = text.index("\n## Testing agents\n")
    section = text[start : text.index("\n## ", start + 1)]
    blocks = re.findall(r"^```python\n(.*?)^```$", section, re.M | re.S)
    return [block for block in blocks if "\nasync def test_" in block]


def marked(code: str, mark: str) -> str:
    """``code`` with each ``async def test_`` marked for the async plugin under test."""
    return re.sub(r"^async def test_", f"@pytest.mark.{mark}\nasync def test_", code, flags=re.M)


FAILURES = [
    # assert_tool_calls, each mode: expected and actual side by side, != on the culprits
    'E       AssertionError: the tool calls differ from the expected ones (mode="strict": '
    "the same calls in the same order):",
    "E         expected          actual",
    "E         0. fetch(...)  != 0. search({})",
    "E         1. search(...) != 1. fetch({})",
    '*(mode="unordered": the same calls in any order):',
    'E         0. search({"q": /./})    0. search({"q": "a"})',
    'E         (not expected)        != 1. search({"q": "b"})',
    'E         1. fetch(...)            2. fetch({"url": "u"})',
    '*(mode="subset": every call made was expected):',
    "E         (not expected) != 1. delete_all({})",
    "E         1. fetch(...)     (not made)",
    '*(mode="superset": every expected call was made):',
    'E         (not expected)                0. search({"q": "porto"})',
    'E         0. search({"q": /lisbon/}) != (not made)',
    # assert_usage
    "E       AssertionError: session 's-c-17' is over its token budget (input):",
    "E         input tokens:  1,200 >  1,000 max_input_tokens, over by 200",
    "E         output tokens:   300  (no limit)",
    "E         total tokens:  1,500 <= 2,000 max_total_tokens",
    "E       AssertionError: session 's-c-17' recorded no token usage, so its budget cannot "
    "be checked; *",
    # the recorder
    "E       AssertionError: expected the store to see one session, it saw 2 ('s-one', "
    "'s-two'); use .sessions*",
    # replay_model, each framework: a different question, then (LangChain) a different tool
    # result and a call past the recording
    "E       AssertionError: replay of session 's-c-17': model call 1 was sent an input that "
    "differs from the recording's at message 0 (- recorded, + actual):",
    "E       - 0. user: 'Umbrella in Lisbon?'",
    "E       + 0. user: 'Umbrella in Porto?'",
    "*replay of session 's-c-17': model call 2 was sent an input that differs from the "
    "recording's at message 2 (- recorded, + actual):",
    "E         0. user: 'Umbrella in Lisbon?'",
    'E         1. assistant: forecast({"city": "Lisbon", "days": 2})',
    "E       - 2. tool (forecast): '{\"rain\": 0.7}' status='success'",
    "E       + 2. tool (forecast): '{\"rain\": 0.8}' status='success'",
    "E       AssertionError: replay of session 's-c-17': model call 2 asked for a reply, but "
    "the recording has only 1; the agent made more model calls than when it was recorded.",
    'E       The last recorded reply: assistant: forecast({"city": "Lisbon", "days": 2})',
    "E       The input of call 2 ends with:",
    "E         2. tool (forecast): '{\"rain\": 0.8}' status='success'",
]


@pytest.mark.parametrize("mode", list(MODES))
def test_the_helpers_pass_and_fail_as_users_see_them(pytester: pytest.Pytester, mode: str) -> None:
    mark, ini, flags = MODES[mode]
    pytester.makeini(ini)
    examples = readme_examples()
    assert len(examples) == 3, "one README example per framework"
    files = {f"test_readme_{i}": marked(code, mark) for i, code in enumerate(examples)}
    files["test_cases"] = marked(CASES.read_text(), mark)
    pytester.makepyfile(**{name: "import pytest\n" + code for name, code in files.items()})
    result = pytester.runpytest_inprocess("-W", "error", "-p", "no:cacheprovider", *flags)
    result.assert_outcomes(passed=7, failed=12)
    assert all("test_fail_" in line for line in result.stdout.lines if line.startswith("FAILED"))
    result.stdout.fnmatch_lines(FAILURES)
    assert "Warning" not in result.stdout.str()


def _failure_sections(lines: list[str]) -> dict[str, list[str]]:
    """Each failed test's part of the report, by test name."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        header = re.fullmatch(r"_{3,} (\w+) _{3,}", line)
        if header:
            current = sections[header[1]] = []
        elif line.startswith("=") and current is not None:
            current = None
        elif current is not None:
            current.append(line)
    return sections


def test_a_replay_mismatch_comes_right_after_the_tests_own_lines(
    pytester: pytest.Pytester,
) -> None:
    """Not under the ~60 frames of the agent framework (pydantic-ai's graph, the Agents SDK's
    runner, LangChain's), asyncio's and ours between the test and the check: they are hidden,
    said so in one line, and shown with --full-trace."""
    pytester.makeini(ASYNCIO_INI)
    pytester.makepyfile(test_cases="import pytest\n" + marked(CASES.read_text(), "asyncio"))
    run = ("-p", "no:cacheprovider", "-k", "replay")
    result = pytester.runpytest_inprocess(*run)
    result.assert_outcomes(failed=5)
    sections = _failure_sections(result.stdout.lines)
    assert len(sections) == 5
    for name, lines in sections.items():
        first_error = next(i for i, line in enumerate(lines) if line.startswith("E  "))
        assert lines[first_error].startswith("E       AssertionError: replay of session"), name
        above = lines[:first_error]
        assert any(line.startswith(">") for line in above), name  # the test's line that ran it
        assert not [line for line in above if "site-packages" in line or "_ _ _" in line], name
        assert (
            "E       (the agent framework's frames are hidden: pytest --full-trace shows them)"
            in lines
        )
        assert len(lines) < 40, name
    full = pytester.runpytest_inprocess(*run, "--full-trace")
    assert "site-packages/pydantic_ai/" in full.stdout.str()
    assert "frames are hidden" not in full.stdout.str()


SYRUPY_CASE = """
import os

from pytest_session_history import normalized_transcript
from session_history import ChatMessage, Session, ToolCall


def test_transcript(snapshot):
    call_id = os.environ["CALL_ID"]  # a new id each recording: the snapshot does not see it
    session = Session(session_id=call_id, agent_name="weather", model="gpt-5", messages=[
        ChatMessage(role="user", content="Umbrella in Lisbon?", id=f"m-{call_id}"),
        ChatMessage(role="assistant", tool_calls=[
            {"id": call_id, "name": "forecast", "arguments": {"city": "Lisbon"}}
        ]),
        ChatMessage(role="tool", tool_call_id=call_id, content='{"rain": 0.7}'),
        ChatMessage(role="assistant", content=os.environ["ANSWER"]),
    ])
    assert normalized_transcript(session) == snapshot
"""


def test_syrupy_snapshots_a_transcript(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The inner run is a plain pytest run, not an xdist worker (syrupy keeps its report for
    # the controller when it thinks it is one).
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    pytester.makeini(ASYNCIO_INI)
    pytester.makepyfile(test_syrupy_case=SYRUPY_CASE)
    run = ("-W", "error", "-p", "no:cacheprovider")
    monkeypatch.setenv("ANSWER", "Rain, take an umbrella.")
    monkeypatch.setenv("CALL_ID", "toolu_01")
    pytester.runpytest_inprocess(*run, "--snapshot-update").assert_outcomes(passed=1)
    stored = (pytester.path / "__snapshots__" / "test_syrupy_case.ambr").read_text()
    assert "'id': 'call_1'" in stored and "toolu_01" not in stored
    monkeypatch.setenv("CALL_ID", "call_8f2c")  # another recording of the same conversation
    pytester.runpytest_inprocess(*run).assert_outcomes(passed=1)
    monkeypatch.setenv("ANSWER", "Rain, take a coat.")  # a changed word
    result = pytester.runpytest_inprocess(*run)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: assert [+ received] == [- snapshot]",
            "E         -     'content': 'Rain, take an umbrella.',",
            "E         +     'content': 'Rain, take a coat.',",
            "*1 snapshot failed.*",
        ]
    )


INLINE_CASE = """
from inline_snapshot import snapshot

from pytest_session_history import normalized_transcript
from session_history import ChatMessage, Session


def transcript(answer):
    return normalized_transcript(Session(session_id="s", agent_name="a", model="m", messages=[
        ChatMessage(role="user", content="Umbrella in Lisbon?", id="m-1"),
        ChatMessage(role="assistant", content=answer, id="m-2"),
    ]))


EXPECTED = snapshot(
    [
        {"role": "user", "content": "Umbrella in Lisbon?", "id": "msg_1"},
        {"role": "assistant", "content": "Rain, take an umbrella.", "id": "msg_2"},
    ]
)


def test_same():
    assert transcript("Rain, take an umbrella.") == EXPECTED


def test_changed_word():
    assert transcript("Rain, take a coat.") == snapshot(
        [
            {"role": "user", "content": "Umbrella in Lisbon?", "id": "msg_1"},
            {"role": "assistant", "content": "Rain, take an umbrella.", "id": "msg_2"},
        ]
    )
"""


@pytest.mark.parametrize("ci", [False, True], ids=["locally", "in-ci"])
def test_inline_snapshot_snapshots_a_transcript(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: bool
) -> None:
    """Locally inline-snapshot also reports the fix it proposes (and an error at teardown); in
    CI it stays out of the way, and the failure is the comparison's alone."""
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # a plain run, as above
    if ci:
        monkeypatch.setenv("CI", "true")
    else:
        monkeypatch.delenv("CI", raising=False)
    pytester.makeini(ASYNCIO_INI)
    pytester.makepyfile(test_inline_case=INLINE_CASE)
    result = pytester.runpytest_inprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1, errors=0 if ci else 1)
    result.stdout.fnmatch_lines(
        [
            "*test_changed_word*",
            "E       AssertionError: assert [[]{'role': 'us...id': 'msg_2'}] == [[]{'role': *",
            "E         At index 1 diff: {'role': 'assistant', 'content': 'Rain, take a coat.', "
            "'id': 'msg_2'} != {'role': 'assistant', 'content': 'Rain, take an umbrella.', "
            "'id': 'msg_2'}",
        ]
    )
    report = [
        """*-            {"role": "assistant", "content": "Rain, take an umbrella.",*""",
        """*+            {"role": "assistant", "content": 'Rain, take a coat.', "id":*""",
        "These changes are not applied.",
    ]
    if ci:
        result.stdout.no_fnmatch_line(report[-1])
    else:
        result.stdout.fnmatch_lines(report)  # printed before the failures
    assert "take an umbrella" in (pytester.path / "test_inline_case.py").read_text()


# -- direct checks of what the pytester runs do not reach -----------------------------------


def test_bad_arguments_are_one_line_errors() -> None:
    session = Session(session_id="s", agent_name="a", model="m")
    with pytest.raises(InvalidQueryError, match=r"unknown mode 'exact'.*'strict'"):
        assert_tool_calls(session, [], mode="exact")  # type: ignore[arg-type]
    with pytest.raises(InvalidQueryError, match=r"expected call 0 is \['search'\]"):
        assert_tool_calls(session, [["search"]])  # type: ignore[list-item]
    with pytest.raises(InvalidQueryError, match="needs a budget"):
        assert_usage(session)
    with pytest.raises(InvalidQueryError, match="needs a Session"):
        normalized_transcript([ChatMessage(role="user", content="hi")], usage=True)
    with pytest.raises(InvalidQueryError, match="unknown framework 'crewai'"):
        replay_model(session, framework="crewai")  # type: ignore[arg-type]


def test_replay_without_its_integration_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pydantic_ai_session_history.replay", None)
    session = Session(session_id="s", agent_name="a", model="m")
    with pytest.raises(InvalidQueryError) as caught:
        replay_model(session, framework="pydantic-ai")
    message = str(caught.value)
    assert "needs pydantic-ai-session-history" in message
    assert "pip install . ./integrations/pydantic_ai" in message
    assert "\n" not in message


def test_tool_calls_are_paired_by_a_maximum_matching() -> None:
    """A greedy pairing gives the pattern the first call and leaves the exact value without one
    (agentevals would fail this); a matching finds the pairing that exists."""
    made = [
        ChatMessage(
            role="assistant", tool_calls=[ToolCall(id=f"c{q}", name="s", arguments={"q": q})]
        )
        for q in ("a", "b")
    ]
    expected = [("s", {"q": re.compile(".")}), ("s", {"q": "a"})]
    for mode in ("unordered", "subset", "superset"):
        assert_tool_calls(made, expected, mode=mode)  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match=r"1. s\(\{\"q\": \"a\"\}\) != 1. s"):
        assert_tool_calls(made, expected)  # strict: in order, the second expectation fails


def test_argument_values_match_as_json_does() -> None:
    call = ToolCall(id="c", name="f", arguments={"flag": True, "n": 1, "tags": ["a", {"k": 2}]})
    made = [ChatMessage(role="assistant", tool_calls=[call])]
    assert_tool_calls(made, [("f", {"flag": True, "n": int, "tags": ["a", {"k": ...}]})])
    for wrong in ({"flag": 1, "n": 1, "tags": ...}, {"flag": True, "n": True, "tags": ...}):
        with pytest.raises(AssertionError):  # True is not 1 in JSON
            assert_tool_calls(made, [("f", wrong)])
    with pytest.raises(AssertionError, match=r"f\(\{\"flag\": \.\.\.\}\) != 0. f"):
        assert_tool_calls(made, [("f", {"flag": ...})])  # a key missing is a difference


def test_a_transcript_view_keeps_what_messages_say() -> None:
    session = Session(
        session_id="s",
        agent_name="a",
        model="m",
        messages=[
            ChatMessage(role="assistant", content="x", id="r1", provider_response_id="resp-9"),
            ChatMessage(role="assistant", reasoning="y", id="r1", provider_response_id="resp-9"),
            ChatMessage(role="tool", tool_call_id="gone", content="z", status="error"),
            ChatMessage(role="user", content="w", name="ana"),
        ],
    )
    assert normalized_transcript(session) == [
        {"role": "assistant", "content": "x", "id": "msg_1", "response_id": "resp_1"},
        {"role": "assistant", "reasoning": "y", "id": "msg_1", "response_id": "resp_1"},
        {"role": "tool", "content": "z", "tool_call_id": "call_1", "status": "error"},
        {"role": "user", "content": "w", "name": "ana"},
    ]
    assert normalized_transcript(session, usage=True)[-1] == {"usage": None}


def test_the_recorder_sees_appends_and_pops_and_skips_deleted_sessions(
    session_history_sync: SyncSessionHistory, session_history_recorder: HookRecorder
) -> None:
    for sid in ("a", "b", "c"):
        session_history_sync.create_session(Session(session_id=sid, agent_name="x", model="m"))
    session_history_sync.append_messages("b", [ChatMessage(role="user", content="hi")])
    session_history_sync.pop_messages("b")
    session_history_sync.delete_session("a")
    assert session_history_recorder.session_ids == ["a", "b", "c"]
    assert [s.session_id for s in session_history_recorder.sessions] == ["b", "c"]
    session_history_recorder.clear()
    assert session_history_recorder.session_ids == []
    with pytest.raises(AssertionError, match=r"it saw 0 \(none\)"):
        session_history_recorder.session  # noqa: B018


def test_the_public_names_are_sorted_and_complete() -> None:
    assert pytest_session_history.__all__ == sorted(pytest_session_history.__all__)
    assert {
        "assert_tool_calls",
        "assert_transcript",
        "assert_usage",
        "normalized_transcript",
        "replay_model",
        "session_history_recorder",
    } <= set(pytest_session_history.__all__)
    for name in pytest_session_history.__all__:
        assert getattr(pytest_session_history, name) is not None
