"""Importing an export: every bad line reported with its number and the rest imported, bytes
that are not UTF-8 included; a duplicate session id reported with both lines; a missing field is
a bad line; an import with nothing to import creates nothing (issue 10, points 11-14)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from session_history import HistoryConfig, SessionHistory, SyncSessionHistory

from .helpers import run_cli, session, turn


def line(session_id: str, content: str = "hello", **fields: object) -> str:
    data: dict[str, object] = {
        "session_id": session_id,
        "agent_name": "agent",
        "model": "model",
        "messages": [{"role": "user", "content": content}],
    }
    data.update(fields)
    return json.dumps(data, ensure_ascii=False)


async def test_a_line_that_is_not_utf8_is_reported_and_the_rest_imported(
    session_history: SessionHistory,
) -> None:
    lines = [
        line("a").encode(),
        line("b", "caf\u00e9").encode("latin-1"),  # é as one byte, 0xe9: not UTF-8
        line("c", "caf\u00e9").encode(),
    ]
    report = await session_history.import_jsonl(lines)
    assert (report.added, [number for number, _ in report.errors]) == (2, [2])
    assert "not UTF-8 text (byte 0xe9 at column" in report.errors[0][1]
    loaded = await session_history.load_session("c")
    assert loaded is not None and loaded.messages[0].content == "caf\u00e9"
    assert await session_history.load_session("b") is None


async def test_a_duplicate_id_names_both_lines_and_an_unchanged_file_stays_unchanged(
    session_history: SessionHistory,
) -> None:
    lines = [line("a", "first"), line("b"), line("a", "second")]
    report = await session_history.import_jsonl(lines)
    assert (report.added, report.replaced, report.unchanged) == (2, 0, 0)
    assert report.errors == [
        (
            3,
            "session 'a' is on line 1 too; the first line with an id is imported and this one "
            "skipped (keep one of the two)",
        )
    ]
    loaded = await session_history.load_session("a")
    assert loaded is not None and loaded.messages[0].content == "first"  # the first wins
    again = await session_history.import_jsonl(lines)
    assert (again.added, again.replaced, again.unchanged) == (0, 0, 2)
    assert [number for number, _ in again.errors] == [3]


async def test_duplicates_are_found_across_batches(session_history: SessionHistory) -> None:
    lines = [line(f"s{i}") for i in range(5)] + [line("s1", "again")]
    report = await session_history.import_jsonl(lines, batch_size=2)
    assert report.added == 5 and [number for number, _ in report.errors] == [6]


@pytest.mark.parametrize("missing", ["messages", "session_id", "agent_name", "model"])
async def test_a_line_without_a_required_field_is_a_bad_line(
    session_history: SessionHistory, missing: str
) -> None:
    data = json.loads(line("a"))
    del data[missing]
    report = await session_history.import_jsonl([line("ok"), json.dumps(data)])
    assert report.added == 1
    assert report.errors == [(2, f"{missing}: Field required")]
    assert await session_history.session_count() == 1


async def test_lines_that_fail_while_a_batch_fails_to_write_report_both(
    session_history_config: HistoryConfig,
) -> None:
    def lines() -> Iterator[str]:
        yield from (line(f"s{i}") for i in range(3))
        raise OSError("the file went away")

    async with SessionHistory(session_history_config):
        pass  # the database is there: a read-only store refuses the write itself
    read_only = session_history_config.model_copy(update={"read_only": True})
    async with SessionHistory(read_only) as history:
        with pytest.raises(OSError, match="went away") as info:
            await history.import_jsonl(lines(), batch_size=2)
    # The write's error is told with the reading's (not logged later as never retrieved).
    [note] = info.value.__notes__
    assert note.startswith("and the batch being written failed: DatabaseError(")
    assert "opened read-only" in note


def test_the_cli_imports_a_file_with_a_line_that_is_not_utf8(tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    source.write_bytes(
        b"\n".join(
            [line("a").encode(), line("b", "caf\u00e9").encode("latin-1"), line("c").encode()]
        )
        + b"\n"
    )
    db = tmp_path / "h.db"
    code, out = run_cli("--db", str(db), "import", str(source))
    assert code == 1 and "Traceback" not in out
    assert "line 2: not UTF-8 text (byte 0xe9" in out
    assert "2 added, 0 replaced, 0 unchanged; 1 line(s) skipped" in out
    code, listed = run_cli("--db", str(db), "list", "--json")
    assert sorted(s["id"] for s in json.loads(listed)) == ["a", "c"]


def test_an_import_with_nothing_to_import_creates_no_database(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my shopping list\nmilk\n")
    db = tmp_path / "h.db"
    code, out = run_cli("--db", str(db), "import", str(notes))
    assert code == 1
    assert "line 1: Invalid JSON" in out and "line 2: Invalid JSON" in out
    assert "no database was opened" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, out = run_cli("--db", str(db), "import", str(empty))
    assert code == 0 and not db.exists()


def test_the_cli_imports_a_file_whose_good_lines_come_after_bad_ones(tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    source.write_text("\n".join(["junk", "", line("a"), "more junk", line("a"), line("b")]))
    db = tmp_path / "h.db"
    code, out = run_cli("--db", str(db), "import", str(source))
    assert code == 1
    assert [ln.split(":")[0] for ln in out.splitlines()[:3]] == ["line 1", "line 4", "line 5"]
    assert "2 added" in out and "3 line(s) skipped" in out


def test_import_into_an_existing_database_keeps_its_sessions(
    session_history_config: HistoryConfig,
) -> None:
    with SyncSessionHistory(session_history_config) as history:
        history.create_session(session("old", messages=turn(0)))
        report = history.import_jsonl([line("new").encode()])
        assert report.added == 1 and history.session_count() == 2
