"""What stored text may do to a terminal (issue 20): nothing. A transcript holds what tools and
web pages returned; its escape sequences (a window title, a cleared screen, an OSC-8 link, a
carriage return over a line, a C1 CSI, a right-to-left override) are shown escaped by ``list``,
``show``, ``search``, ``stats`` and ``prune``, checked through a real pseudo-terminal, while
``--json`` and ``export`` keep every character exactly."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from session_history import ChatMessage, HistoryConfig, SyncSessionHistory, ToolCall

from .helpers import session

SCRIPT = str(Path(sys.executable).with_name("session-history"))

HOSTILE = (
    "\x1b]0;pwned\x07"  # retitle the window
    "\x1b[2J\x1b[H"  # clear the screen
    "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"  # a forged link
    "fake\rover"  # a line written over
    "\x9b31m\x7f"  # a C1 CSI, DEL
    "\u202egnp.exe\u202c\u2066x\u2069"  # bidirectional override and isolate
)
"""What an agent may repeat from a tool or a web page, once in every field a person sees."""

UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""Every character a terminal may act on rather than show (the line break aside)."""

OUR_STYLE = re.compile(r"\x1b\[(?:1|0|22)m")
"""The only escape sequences the CLI writes itself: bold for search matches, and its reset."""


def hostile_store(where: str | Path) -> None:
    with SyncSessionHistory(HistoryConfig(enabled=True, db_path=where)) as history:
        history.create_session(
            session(
                "s" + HOSTILE,
                agent_name="agent" + HOSTILE,
                model="model" + HOSTILE,
                metadata={"title" + HOSTILE: "value" + HOSTILE},
                messages=[
                    ChatMessage(role="user", content="payload " + HOSTILE + "\nsecond line"),
                    ChatMessage(
                        role="assistant",
                        name="helper" + HOSTILE,
                        reasoning="think " + HOSTILE,
                        tool_calls=[
                            ToolCall(
                                id="c" + HOSTILE, name="tool" + HOSTILE, arguments={"a": HOSTILE}
                            )
                        ],
                    ),
                    ChatMessage(
                        role="tool",
                        tool_call_id="c" + HOSTILE,
                        status="done" + HOSTILE,
                        content="payload result " + HOSTILE,
                    ),
                ],
            )
        )


def on_a_terminal(*args: str) -> str:
    """What the command shows on a terminal: standard output and error, through a pty."""
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [SCRIPT, *args], stdin=follower, stdout=follower, stderr=follower
    ) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=60) == 0, b"".join(chunks)
    os.close(leader)
    # The terminal turns each line break into \r\n (onlcr): that \r is the terminal's own.
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def assert_harmless(shown: str) -> None:
    bare = OUR_STYLE.sub("", shown)
    assert "\x1b" not in bare, shown
    found = UNSAFE.search(bare)
    assert found is None, (found, shown)


@pytest.mark.parametrize(
    "command",
    [
        ["list"],
        ["show", "s" + HOSTILE],
        ["show", "s" + HOSTILE, "--markdown"],
        ["search", "payload"],
        ["stats"],
        ["prune", "--max-sessions", "0", "--dry-run"],
    ],
    ids=["list", "show", "show-markdown", "search", "stats", "prune"],
)
def test_stored_escape_sequences_never_reach_the_terminal(
    session_history_db: str | Path, command: list[str]
) -> None:
    hostile_store(session_history_db)
    shown = on_a_terminal("--db", str(session_history_db), *command)
    assert_harmless(shown)
    # Shown, escaped, rather than dropped: a person sees that they are there.
    assert r"\x1b" in shown
    if command[0] != "search":  # a snippet is a window of the text, not all of it
        assert r"\x1b]0;pwned\x07" in shown
    if command[0] == "show":
        assert r"fake\rover" in shown and r"\u202egnp.exe" in shown and r"\x9b31m\x7f" in shown


def test_a_message_keeps_its_line_breaks_and_a_crlf_is_one(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with SyncSessionHistory(HistoryConfig(enabled=True, db_path=db)) as history:
        history.create_session(
            session(
                "s",
                messages=[ChatMessage(role="user", content="one\r\ntwo\nthree\rfour\tfive")],
            )
        )
    shown = on_a_terminal("--db", str(db), "show", "s").splitlines()
    assert shown[-3:] == ["    one", "    two", r"    three\rfour\tfive"]


def test_piped_text_is_escaped_too(session_history_db: str | Path) -> None:
    """A text file reaches a terminal at its next ``cat``: the same escapes when piped."""
    hostile_store(session_history_db)
    for command in (["list"], ["show", "s" + HOSTILE], ["search", "payload"]):
        result = subprocess.run(
            [SCRIPT, "--db", str(session_history_db), *command],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        # Line breaks and tabs between the columns are the CLI's own; a stored tab is escaped.
        assert UNSAFE.search(re.sub("[\n\t]", "", result.stdout)) is None, result.stdout
        assert r"\x1b]0;pwned\x07" in result.stdout


def test_an_error_naming_a_stored_id_is_escaped_and_one_line(tmp_path: Path) -> None:
    hostile_store(tmp_path / "h.db")
    shown = on_a_terminal("--db", str(tmp_path / "h.db"), "delete", "s" + HOSTILE)
    assert_harmless(shown)
    assert shown.startswith("deleted s")
    leader, follower = pty.openpty()
    result = subprocess.run(
        [SCRIPT, "--db", str(tmp_path / "h.db"), "show", "gone\x1b[2J\nline"],
        stdin=follower,
        capture_output=True,
        text=True,
        timeout=60,
    )
    os.close(follower)
    os.close(leader)
    assert result.returncode == 1
    assert UNSAFE.search(result.stderr.removesuffix("\n")) is None
    assert len(result.stderr.splitlines()) == 1 and r"gone\x1b[2J\nline" in result.stderr


def test_json_and_export_keep_every_character(
    session_history_db: str | Path, tmp_path: Path
) -> None:
    hostile_store(session_history_db)
    where = str(session_history_db)
    sid = "s" + HOSTILE

    def output(*args: str) -> str:
        result = subprocess.run(
            [SCRIPT, "--db", where, *args], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        # Every character kept, written as a JSON escape: none reaches a terminal raw.
        assert UNSAFE.search(result.stdout.replace("\n", "")) is None
        return result.stdout

    shown = json.loads(output("show", sid, "--json"))
    assert shown["session_id"] == sid and shown["agent_name"] == "agent" + HOSTILE
    assert shown["metadata"] == {"title" + HOSTILE: "value" + HOSTILE}
    assert shown["messages"][0]["content"] == "payload " + HOSTILE + "\nsecond line"
    assert shown["messages"][1]["tool_calls"][0]["arguments"] == {"a": HOSTILE}
    (listed,) = json.loads(output("list", "--json"))
    assert (listed["id"], listed["model"]) == (sid, "model" + HOSTILE)
    hits = json.loads(output("search", "payload", "--json"))
    assert {hit["session_id"] for hit in hits} == {sid}
    assert any("\x1b]0;pwned\x07" in hit["snippet"] for hit in hits)

    target = tmp_path / "export.jsonl"
    result = subprocess.run(
        [SCRIPT, "--db", where, "export", "-o", str(target)], capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    with SyncSessionHistory(HistoryConfig(enabled=True, db_path=where)) as history:
        expected = "".join(line + "\n" for line in history.export_jsonl())
    assert target.read_bytes() == expected.encode("utf-8")
    assert "\x9b31m\x7f\u202e".encode() in target.read_bytes()  # the bytes as stored
