"""Sessions a database refuses, among good ones (issue 20): PostgreSQL refuses a NUL character in
text and an id too long for its index, and such a session failed its whole batch's transaction,
so an import stopped half-way (500 of 605 stored) and a copy at 1,000 of 1,201. Now the batch is
written again in halves, down to the refused sessions: every session the database takes is
stored, and each one it refuses is reported with its line number and the reason; the CLI names
the first 20 and counts the rest."""

from __future__ import annotations

import json
import random
import string
from collections.abc import Sequence
from pathlib import Path

import pytest

from session_history import (
    ConnectionLostError,
    HistoryConfig,
    InvalidQueryError,
    SessionHistory,
    SyncSessionHistory,
)
from session_history._models import ExportedSession

from .helpers import run_cli


def line(session_id: str, **fields: object) -> str:
    data: dict[str, object] = {
        "session_id": session_id,
        "agent_name": "agent",
        "model": "model",
        "messages": [{"role": "user", "content": f"hello from {session_id}"}],
    }
    data.update(fields)
    return json.dumps(data)


def refuse_some(
    monkeypatch: pytest.MonkeyPatch, history: SessionHistory, error: Exception, ids: set[str]
) -> list[int]:
    """Make the store's backend refuse, as a database would, every batch holding one of
    ``ids``; the sizes of the batches it was asked to write are returned."""
    backend = history._backend  # type: ignore[attr-defined]
    real = backend.import_sessions
    asked: list[int] = []

    async def import_sessions(sessions: Sequence[ExportedSession], **kw: bool) -> object:
        asked.append(len(sessions))
        if any(s.session_id in ids for s in sessions):
            raise error
        return await real(sessions, **kw)

    monkeypatch.setattr(backend, "import_sessions", import_sessions)
    return asked


async def test_a_refused_session_is_reported_and_the_rest_of_its_batch_stored(
    session_history: SessionHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    await session_history.session_count()  # open: the backend is there to wrap
    refused = InvalidQueryError("the session's agent name contains the NUL character")
    asked = refuse_some(monkeypatch, session_history, refused, {"s3", "s11"})
    lines = [line(f"s{i}") for i in range(14)]
    lines.insert(5, "not json")
    report = await session_history.import_jsonl(lines, batch_size=5)
    assert report.added == 12 and await session_history.session_count() == 12
    assert [number for number, _ in report.errors] == [4, 6, 13]  # in line order
    assert report.errors[0][1] == (
        "session 's3' not stored: the session's agent name contains the NUL character"
    )
    assert report.errors[2][1].startswith("session 's11' not stored:")
    assert await session_history.load_session("s4") is not None  # in s3's batch
    # Only the two batches holding a refused session were written again, in halves.
    assert asked == [5, 2, 3, 1, 2, 1, 1, 5, 4, 2, 1, 1, 2]


async def test_a_lost_connection_still_ends_the_import(
    session_history: SessionHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a session's values: trying each session again would only fail each in turn."""
    await session_history.session_count()
    lost = ConnectionLostError("the connection to PostgreSQL was lost; try again")
    asked = refuse_some(monkeypatch, session_history, lost, {"s1"})
    with pytest.raises(ConnectionLostError):
        await session_history.import_jsonl([line(f"s{i}") for i in range(4)], batch_size=2)
    assert asked == [2]


@pytest.mark.session_history(backends=["postgresql"])
async def test_postgresql_stores_every_session_it_can_take(
    session_history: SessionHistory,
) -> None:
    """The sessions PostgreSQL itself refuses, in the second batch of 500, as in the issue."""
    long_id = "".join(random.Random(0).choices(string.ascii_letters + string.digits, k=3000))
    lines = [line(f"s{i}") for i in range(605)]
    lines[550] = line("s550", agent_name="agent\x00")  # no NUL in PostgreSQL text
    lines[560] = line(long_id)  # past the 1,024 bytes of an id (and the btree's 2,704)
    report = await session_history.import_jsonl(lines)
    assert report.added == 603 and await session_history.session_count() == 603
    assert [number for number, _ in report.errors] == [551, 561]
    assert "NUL character" in report.errors[0][1]
    assert "at most 1,024 UTF-8 bytes" in report.errors[1][1]  # the id rule, as it was read
    again = await session_history.import_jsonl(lines)
    assert (again.added, again.unchanged, len(again.errors)) == (0, 603, 2)


def test_the_cli_reports_the_first_20_bad_lines_and_counts_the_rest(tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    source.write_bytes(b"\n".join([b"\xff\xfe binary"] * 398 + [line("ok").encode()]) + b"\n")
    code, out = run_cli("--db", str(tmp_path / "h.db"), "import", str(source))
    assert code == 1
    lines = out.splitlines()
    assert [ln.split(":")[0] for ln in lines[:20]] == [f"line {n}" for n in range(1, 21)]
    assert lines[20:] == [
        "... and 378 more",
        "imported 1 session(s): 1 added, 0 replaced, 0 unchanged; 398 line(s) skipped",
    ]


def test_a_time_out_of_range_in_utc_is_a_bad_line(tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    late = "9999-12-31T23:59:59-14:00"  # a valid time, but in the year 10000 in UTC
    source.write_text("\n".join([line("a"), line("b", updated_at=late), line("c")]) + "\n")
    code, out = run_cli("--db", str(tmp_path / "h.db"), "import", str(source))
    assert code == 1 and "Traceback" not in out
    assert "line 2: a time is out of range once in UTC" in out and "2 added" in out


@pytest.mark.session_history(backends=["postgresql"])
def test_a_copy_to_postgresql_stores_every_session_it_can_take(
    tmp_path: Path, session_history_db: str
) -> None:
    source = tmp_path / "h.db"
    lines = [line(f"s{i}") for i in range(1201)]
    for i in (5, 1100):  # SQLite keeps a NUL; PostgreSQL cannot
        lines[i] = line(f"s{i}", agent_name="agent\x00")
    with SyncSessionHistory(HistoryConfig(enabled=True, db_path=source)) as history:
        assert history.import_jsonl(lines).added == 1201
    code, out = run_cli("--db", str(source), "copy", session_history_db)
    assert code == 1
    reported = out.splitlines()
    assert reported[0].startswith("#6: session 's5' not stored: ")
    assert reported[1].startswith("#1101: session 's1100' not stored: ")
    assert "copied 1199 session(s)" in reported[2] and "2 session(s) not copied" in reported[2]
    with SyncSessionHistory(HistoryConfig(enabled=True, db_path=session_history_db)) as target:
        assert target.session_count() == 1199
