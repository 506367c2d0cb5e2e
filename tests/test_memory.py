"""A long session costs flat memory: ``iter_messages`` and ``show`` read it a window at a time,
``export`` writes its line in pieces (byte for byte the line it wrote whole), and ``import``
parses a huge line a batch at a time inside the session's transaction (issue 20)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import session_history._jsonl as jsonl
from session_history import (
    ChatMessage,
    DatabaseError,
    HistoryConfig,
    SessionHistory,
    SyncSessionHistory,
)
from session_history import _render as render

from .helpers import full_message, run_cli, session, text


async def tree_session(history: SessionHistory, session_id: str = "s") -> None:
    """A session with a branch, a fork, state and every kind of field."""
    ids = await history.append_messages(
        session_id,
        [full_message(), *(text("user", f"m{i} \x1b]0;title\x07") for i in range(9))],
        create=session(session_id, scope=None),
        state={"k": [1, 2]},
    )
    await history.branch_session(session_id, at=4)
    await history.append_messages(session_id, [text("assistant", f"b{i}") for i in range(5)])
    await history.branch_session(session_id, at=2)
    await history.append_messages(session_id, [text("assistant", "c")])
    await history.fork_session(session_id, f"{session_id}-fork", from_entry=ids[6])
    await history.append_messages(f"{session_id}-fork", [text("user", "forked on")])


async def test_iter_messages_reads_the_current_branch_in_windows(
    session_history: SessionHistory,
) -> None:
    await tree_session(session_history)
    for sid in ("s", "s-fork"):
        expected = await session_history.load_messages(sid)
        for batch_size in (1, 2, 3, 1000):
            got = [m async for m in session_history.iter_messages(sid, batch_size=batch_size)]
            assert got == expected
    assert [m async for m in session_history.iter_messages("missing")] == []
    assert [m async for m in session_history.iter_messages("s", scope="other")] == []


def test_iter_messages_blocking_door_gives_the_same(session_history_config: HistoryConfig) -> None:
    with SyncSessionHistory(session_history_config) as history:
        history.append_messages("s", [text("user", f"m{i}") for i in range(7)], create=session("s"))
        assert list(history.iter_messages("s", batch_size=3)) == history.load_messages("s")
        first = history.iter_messages("s", batch_size=2)
        assert next(first).content == "m0"  # left half-read: closed without a warning
        first.close()


async def test_iter_messages_says_when_a_pop_removes_what_it_reads(
    session_history: SessionHistory,
) -> None:
    await session_history.append_messages(
        "s", [text("user", f"m{i}") for i in range(6)], create=session("s")
    )
    messages = session_history.iter_messages("s", batch_size=2)
    assert (await anext(messages)).content == "m0"
    await session_history.pop_messages("s", 3)
    await session_history.append_messages("s", [text("user", "new")] * 3)
    with pytest.raises(DatabaseError, match="changed while it was read"):
        async for _ in messages:
            pass


async def test_iter_messages_does_not_see_an_append_made_while_it_reads(
    session_history: SessionHistory,
) -> None:
    await session_history.append_messages(
        "s", [text("user", f"m{i}") for i in range(4)], create=session("s")
    )
    messages = session_history.iter_messages("s", batch_size=2)
    got = [(await anext(messages)).content]
    await session_history.append_messages("s", [text("user", "later")])
    got += [m.content async for m in messages]
    assert got == ["m0", "m1", "m2", "m3"]


async def test_export_in_pieces_is_byte_for_byte_the_whole_line(
    session_history: SessionHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    await tree_session(session_history)
    await tree_session(session_history, "t")
    await session_history.create_session(session("empty"))
    backend = session_history._backend
    whole = await backend.export_batch(0, 100)  # the lines as they were made before, whole
    expected = "".join(line + "\n" for line in whole.lines)
    for window in (1, 2, 3, 7, 2000):
        monkeypatch.setattr(jsonl, "WINDOW", window)  # every session streamed, in windows
        pieces = [piece async for piece in session_history.export_chunks(batch_size=2)]
        assert "".join(pieces) == expected
        if window < 3:
            assert max(len(p) for p in pieces) < max(len(line) for line in whole.lines) / 2
        assert [line async for line in session_history.export_jsonl()] == whole.lines


async def test_export_says_when_a_long_session_loses_messages_while_it_is_written(
    session_history: SessionHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    await session_history.append_messages(
        "s", [text("user", f"m{i}") for i in range(6)], create=session("s")
    )
    monkeypatch.setattr(jsonl, "WINDOW", 2)
    pieces = session_history.export_chunks()
    assert '"branches":[' in await anext(pieces)  # the line's start, before its messages
    await session_history.pop_messages("s", 6)
    with pytest.raises(DatabaseError, match="changed while it was read"):
        async for _ in pieces:
            pass


def show_before(loaded: object, fmt: str) -> str:
    """What ``show`` printed when it loaded the whole session first."""
    assert loaded is not None
    if fmt == "--json":
        return render.json_text(loaded.model_dump_json(indent=2, exclude_defaults=True)) + "\n"  # type: ignore[attr-defined]
    if fmt == "--markdown":
        return render.markdown(loaded)  # type: ignore[arg-type]
    return "\n".join(render.transcript(loaded)) + "\n"  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["text", "--markdown", "--json"])
async def test_show_prints_what_it_printed_when_it_loaded_the_whole_session(
    session_history: SessionHistory, session_history_db: str | Path, fmt: str
) -> None:
    await tree_session(session_history)
    many = [text("user" if i % 2 else "assistant", f"line {i}\nnext") for i in range(1200)]
    await session_history.append_messages("long", many, create=session("long"))
    await session_history.create_session(session("none"))
    for sid in ("s", "s-fork", "long", "none"):
        expected = show_before(await session_history.load_session(sid), fmt)
        args = ["--db", str(session_history_db), "show", sid]
        code, out = run_cli(*args, *([] if fmt == "text" else [fmt]))
        assert code == 0 and out == expected, sid


async def huge_lines(
    history: SessionHistory, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], list[int]]:
    """The export of ``tree_session`` and a long session; every line counts as huge."""
    await tree_session(history)
    many = [text("user", f"m{i}") for i in range(2500)]
    await history.append_messages("long", many, create=session("long"))
    lines = [line async for line in history.export_jsonl()]
    monkeypatch.setattr(jsonl, "HUGE", 10)  # every line is read in pieces
    return lines, [len(line) for line in lines]


async def test_a_huge_line_imports_in_batches_and_round_trips(
    session_history: SessionHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines, _ = await huge_lines(session_history, monkeypatch)
    for sid in ("s", "s-fork", "long"):
        await session_history.delete_session(sid)
    report = await session_history.import_jsonl(lines)
    assert (report.added, report.errors) == (3, [])
    assert [line async for line in session_history.export_jsonl()] == lines
    again = await session_history.import_jsonl(lines)
    assert (again.unchanged, again.added, again.replaced) == (3, 0, 0)
    changed = json.loads(lines[2])
    changed["messages"][2000]["content"] = "edited"
    changed["branches"] = []
    report = await session_history.import_jsonl([json.dumps(changed)])
    assert (report.replaced, report.errors) == (1, [])
    loaded = await session_history.load_messages("long")
    assert len(loaded) == 2500 and loaded[2000].content == "edited"


async def test_a_bad_huge_line_is_reported_and_stores_nothing_of_its_session(
    session_history: SessionHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines, _ = await huge_lines(session_history, monkeypatch)
    for sid in ("s", "s-fork", "long"):
        await session_history.delete_session(sid)
    bad_message = json.loads(lines[2])
    bad_message["messages"][2100]["role"] = "robot"
    # Found only once the session's messages are stored: the transaction is rolled back.
    bad_parent = json.loads(lines[0])
    bad_parent["branches"][0]["parent"] = "not-an-entry"
    report = await session_history.import_jsonl(
        [json.dumps(bad_parent), lines[1], json.dumps(bad_message)]
    )
    assert report.added == 1
    assert [n for n, _ in report.errors] == [1, 3]
    assert "not-an-entry" in report.errors[0][1]
    assert report.errors[1][1].startswith("messages.2100.role: Input should be")
    assert await session_history.get_summary("s") is None
    assert await session_history.get_summary("long") is None
    assert await session_history.load_messages("s-fork")


HWM = """
import atexit, sys
from session_history.cli import main

def hwm():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                sys.stderr.write(f"VmHWM {line.split()[1]}\\n")

atexit.register(hwm)
sys.argv[0] = "session-history"
main()
"""


def peak_rss_mb(args: list[str]) -> float:
    """Peak RSS of the CLI run with ``args`` in a child process: its own high-water mark
    (``ru_maxrss`` would count this process's memory at the fork, kept until the exec)."""
    done = subprocess.run(
        [sys.executable, "-c", HWM, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert done.returncode == 0, done.stderr
    (kb,) = [line.split()[1] for line in done.stderr.splitlines() if line.startswith(b"VmHWM ")]
    return int(kb) / 1024


@pytest.mark.session_history(backends=["sqlite"])  # the windows' logic is shared; RSS is slow
def test_show_export_and_import_memory_is_flat_in_the_session_length(
    tmp_path: Path, session_history_config: HistoryConfig, session_history_db: str | Path
) -> None:
    """Before, show cost some 1.5 KB a message and import 1.8 KB: 12,000 more messages of 300
    characters added 20 MB or more. Now show and export stay within a few MB, and import within
    a small multiple of the line's growth (it holds the line, as bytes and as text)."""
    db = ["--db", str(session_history_db)]
    peaks: dict[int, list[float]] = {}
    sizes: dict[int, float] = {}
    with SyncSessionHistory(session_history_config) as history:
        for n in (4_000, 16_000):
            for old in history.list_sessions():
                history.delete_session(old.id)
            messages = [ChatMessage(role="user", content=f"{i:06d}" + "x" * 300) for i in range(n)]
            history.append_messages("s", messages, create=session("s"))
            export = tmp_path / f"{n}.jsonl"
            peaks[n] = [
                peak_rss_mb([*db, "show", "s"]),
                peak_rss_mb([*db, "show", "s", "--json"]),
                peak_rss_mb([*db, "export", "-o", str(export)]),
                peak_rss_mb(["--db", str(tmp_path / f"{n}.db"), "import", str(export)]),
            ]
            sizes[n] = export.stat().st_size / 1_048_576
    *flat, imported = (large - small for small, large in zip(*peaks.values(), strict=True))
    assert max(flat) < 6, peaks
    assert imported < 3 * (sizes[16_000] - sizes[4_000]) + 4, (peaks, sizes)
