"""Databases made by the reference design: migrated keeping every session and message, also the
values the reference itself can only ignore, and rows its program writes after the migration."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from session_history import (
    DatabaseError,
    HistoryConfig,
    MigrationError,
    SessionHistory,
    Usage,
)

from .helpers import turn


def cfg(path: Path, **fields: object) -> HistoryConfig:
    return HistoryConfig.model_validate(
        {"enabled": True, "db_path": path, "load_entrypoint_plugins": False, **fields}
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# The reference's DDL, verbatim (SessionStore::init_schema).
REFERENCE_DDL = [
    """
CREATE TABLE IF NOT EXISTS session_history (
id TEXT PRIMARY KEY,
agent_name TEXT NOT NULL,
model TEXT NOT NULL,
messages TEXT NOT NULL,
metadata TEXT,
started_at TEXT NOT NULL,
updated_at TEXT NOT NULL,
ended_at TEXT,
turn_count INTEGER DEFAULT 0,
tool_call_count INTEGER DEFAULT 0
)
""",
    "CREATE INDEX IF NOT EXISTS idx_history_updated ON session_history(updated_at DESC)",
    "CREATE INDEX IF NOT EXISTS idx_history_agent ON session_history(agent_name)",
    "CREATE INDEX IF NOT EXISTS idx_history_started ON session_history(started_at DESC)",
]
REFERENCE_ALTER = "ALTER TABLE session_history ADD COLUMN usage TEXT"


def reference_message(role: str, content: str | None, **fields: object) -> dict[str, object]:
    """A message as the reference's serde derive writes it: every field, None as null."""
    message: dict[str, object] = {
        "role": role,
        "name": None,
        "tool_call_id": None,
        "content": content,
        "tool_calls": None,
        "reasoning": None,
        "raw_content_blocks": None,
        "tool_metadata": None,
        "timestamp": None,
        "id": None,
        "provider_response_id": None,
        "status": None,
    }
    message.update(fields)
    return message


REFERENCE_ROWS: list[tuple[object, ...]] = [
    (
        "older",
        "agent-a",
        "gpt-5",
        [
            reference_message("user", "Hello", timestamp="2025-06-01T10:00:00+02:00"),
            reference_message(
                "assistant",
                None,
                tool_calls=[
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                    }
                ],
            ),
            reference_message("tool", "rainy", tool_call_id="call_1"),
            reference_message("assistant", "It is rainy.", reasoning="looked it up"),
        ],
        "2025-06-01T08:00:00+00:00",
        "2025-06-01T08:05:00+00:00",
        "2025-06-01T08:05:00+00:00",
        '{"input_tokens": 30, "output_tokens": 12, "total_tokens": 42}',
    ),
    (
        "newer",
        "agent-b",
        "gpt-5-mini",
        [reference_message("user", "Ünïcødé 🌍")],
        "2025-06-02T08:00:00+00:00",
        "2025-06-02T09:00:00+00:00",
        None,
        None,
    ),
]


def insert_reference_row(
    db: sqlite3.Connection, row: tuple[object, ...], *, with_usage: bool = True
) -> None:
    """A row as the reference's program writes it: ``(id, agent, model, messages, started_at,
    updated_at, ended_at, usage[, metadata])``, every value as text, as it would be."""
    sid, agent, model, messages, started, updated, ended, usage, *metadata = row
    columns = (
        "id, agent_name, model, messages, metadata, started_at, updated_at, ended_at, "
        "turn_count, tool_call_count"
    )
    values = [sid, agent, model, json.dumps(messages), *(metadata or [None])]
    values += [started, updated, ended, 1, 1]
    if with_usage:
        columns += ", usage"
        values.append(usage)
    db.execute(
        f"INSERT INTO session_history ({columns}) VALUES ({', '.join('?' * len(values))})",
        values,
    )


def make_reference_db(path: Path, *, with_usage: bool = True) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        for statement in REFERENCE_DDL:
            db.execute(statement)
        if with_usage:
            db.execute(REFERENCE_ALTER)
        for row in REFERENCE_ROWS:
            insert_reference_row(db, row, with_usage=with_usage)


async def test_a_reference_database_is_migrated_keeping_every_session_and_message(
    tmp_path: Path,
) -> None:
    path = tmp_path / "reference.db"
    make_reference_db(path)
    async with SessionHistory(cfg(path)) as history:
        listed = await history.list_sessions()
        assert [s.id for s in listed] == ["newer", "older"]  # updated_at order survives
        older = await history.load_session("older")
        assert older is not None
        assert [m.role.value for m in older.messages] == ["user", "assistant", "tool", "assistant"]
        assert older.messages[0].content == "Hello"
        assert older.messages[0].timestamp is not None
        assert older.messages[0].timestamp.hour == 8  # 10:00+02:00 in UTC
        call = older.messages[1].tool_calls
        assert (
            call is not None and call[0].name == "weather" and call[0].arguments == {"city": "Oslo"}
        )
        assert older.messages[2].tool_call_id == "call_1"
        assert older.messages[3].reasoning == "looked it up"
        assert older.usage == Usage(input_tokens=30, output_tokens=12, total_tokens=42)
        assert older.ended_at is not None
        summary = listed[1]
        assert (summary.message_count, summary.turn_count, summary.tool_call_count) == (4, 1, 1)
        newer = await history.load_session("newer")
        assert newer is not None and newer.messages[0].content == "Ünïcødé 🌍"
        assert newer.ended_at is None and newer.usage is None
        # The migrated sessions are ordinary sessions now.
        await history.append_messages("newer", turn(0))
    with closing(sqlite3.connect(path)) as db, db:
        tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "session_history" not in tables


async def test_a_reference_database_from_before_the_usage_column_is_migrated(
    tmp_path: Path,
) -> None:
    path = tmp_path / "reference.db"
    make_reference_db(path, with_usage=False)
    async with SessionHistory(cfg(path)) as history:
        assert await history.session_count() == 2
        older = await history.load_session("older")
        assert older is not None and older.usage is None and len(older.messages) == 4


async def test_a_failed_migration_leaves_the_reference_database_as_it_was(
    tmp_path: Path,
) -> None:
    path = tmp_path / "reference.db"
    make_reference_db(path)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE session_history SET messages = '[{\"role\": ' WHERE id = 'newer'")
        before = db.execute("SELECT * FROM session_history ORDER BY id").fetchall()
    with pytest.raises(MigrationError, match=r"'newer'.*rolled back.*as it was"):
        async with SessionHistory(cfg(path)):
            pass
    with closing(sqlite3.connect(path)) as db, db:
        assert db.execute("SELECT * FROM session_history ORDER BY id").fetchall() == before
        assert db.execute("SELECT COUNT(*) FROM sessions").fetchone() == (0,)
        # Mended by hand, the database then migrates on the next open.
        db.execute("UPDATE session_history SET messages = '[]' WHERE id = 'newer'")
    async with SessionHistory(cfg(path)) as history:
        assert await history.session_count() == 2


# -- values the reference reads by ignoring them (issue 10, point 17) ----------------------------

LEAP = datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
"""Where a leap second (23:59:60, which a datetime cannot hold) lands: its last microsecond."""


def odd_rows() -> list[tuple[object, ...]]:
    tool_call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "f", "arguments": "{}", "strict": True},
        "index": 0,
    }
    return [
        ("odd-usage", "a", "m", [reference_message("user", "hi")], "2025-06-03T08:00:00+00:00",
         "2025-06-03T09:00:00+00:00", None, "not json {"),
        ("bad-start", "a", "m", [reference_message("user", "yo")], "yesterday morning",
         "2025-06-04T09:00:00+00:00", None, '{"prompt_tokens": "many"}'),
        ("leap", "a", "m",
         [reference_message("assistant", "tick", timestamp="2016-12-31T23:59:60Z",
                            tool_calls=[tool_call], color="blue")],
         "2016-12-31T23:59:60Z", "2016-12-31T23:59:60.5+00:00", "not a time", None, "[1, 2]"),
    ]  # fmt: skip


async def test_every_row_is_migrated_keeping_what_cannot_be_parsed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "reference.db"
    make_reference_db(path)
    with closing(sqlite3.connect(path)) as db, db:
        for row in odd_rows():
            insert_reference_row(db, row)
    caplog.set_level(logging.INFO, logger="session_history")
    async with SessionHistory(cfg(path)) as history:
        assert await history.session_count() == 5
        odd = await history.load_session("odd-usage")
        assert odd is not None and odd.usage is None
        assert odd.metadata == {"reference": {"usage": "not json {"}}
        bad = await history.load_session("bad-start")
        assert bad is not None  # started_at falls back to updated_at
        assert bad.started_at == datetime(2025, 6, 4, 9, tzinfo=UTC) and bad.usage is None
        assert bad.metadata == {
            "reference": {"started_at": "yesterday morning", "usage": '{"prompt_tokens": "many"}'}
        }
        leap = await history.load_session("leap")
        assert leap is not None and leap.started_at == LEAP and leap.ended_at is None
        assert leap.metadata == {
            "reference": {
                "started_at": "2016-12-31T23:59:60Z",
                "updated_at": "2016-12-31T23:59:60.5+00:00",
                "ended_at": "not a time",
                "metadata": "[1, 2]",
            }
        }
        (message,) = leap.messages
        assert message.timestamp == LEAP and message.content == "tick"
        assert message.tool_calls is not None and message.tool_calls[0].name == "f"
        kept = message.metadata["reference"]
        assert isinstance(kept, dict) and kept["timestamp"] == "2016-12-31T23:59:60Z"
        assert kept["color"] == "blue"  # a key a message of ours has no field for
        assert kept["tool_calls"] == [odd_rows()[2][3][0]["tool_calls"][0]]  # type: ignore[index]
        summary = await history.get_summary("leap")
        assert summary is not None and summary.updated_at == LEAP
    assert "5 session(s) of the reference design migrated" in caplog.text
    assert "3 of the reference design's session(s) held values that could not be read" in (
        caplog.text
    )


# -- rows the old program writes after the migration (point 18) --------------------------------


def run_the_old_program_again(path: Path, *rows: tuple[object, ...]) -> None:
    """What the reference's program does when it starts on a migrated database: its
    init_schema recreates its table; then it writes sessions there."""
    with closing(sqlite3.connect(path)) as db, db:
        for statement in REFERENCE_DDL:
            db.execute(statement)
        db.execute(REFERENCE_ALTER)
        for row in rows:
            insert_reference_row(db, row)


LATER = (
    "later",
    "agent-c",
    "gpt-5",
    [reference_message("user", "written after the migration")],
    "2025-07-01T08:00:00+00:00",
    "2025-07-01T08:01:00+00:00",
    None,
    None,
)


async def test_sessions_the_old_program_writes_after_the_migration_are_imported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "reference.db"
    make_reference_db(path)
    async with SessionHistory(cfg(path)) as history:
        assert await history.session_count() == 2
    # It writes a new session, and saves "older" again as it was.
    run_the_old_program_again(path, LATER, REFERENCE_ROWS[0])
    caplog.set_level(logging.INFO, logger="session_history")
    async with SessionHistory(cfg(path)) as history:
        assert [s.id for s in await history.list_sessions()] == ["later", "newer", "older"]
        later = await history.load_session("later")
        assert later is not None and later.messages[0].content == "written after the migration"
        assert [hit.session_id for hit in await history.search("migration")] == ["later"]
    assert "1 session(s) of the reference design found again in table 'session_history'" in (
        caplog.text
    )
    with closing(sqlite3.connect(path)) as db, db:
        tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "session_history" not in tables


async def test_rows_another_process_imported_first_are_not_imported_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two stores opening at once: both see the recreated table, one imports it; the other finds
    it gone and opens (it failed dropping a table that was no longer there)."""
    from session_history._backends.sqlite import schema

    path = tmp_path / "reference.db"
    make_reference_db(path)
    async with SessionHistory(cfg(path)):
        pass
    run_the_old_program_again(path, LATER)
    inspect = schema._inspect

    def then_the_other_process_imports(
        conn: sqlite3.Connection, location: str, timeout: int
    ) -> tuple[set[str], set[str]]:
        found = inspect(conn, location, timeout)
        with closing(sqlite3.connect(path)) as other, other:
            schema.reimport_reference_table(other)
        return found

    monkeypatch.setattr(schema, "_inspect", then_the_other_process_imports)
    async with SessionHistory(cfg(path)) as history:
        assert [s.id for s in await history.list_sessions()] == ["later", "newer", "older"]


async def test_a_session_written_in_both_places_is_refused_naming_the_table(
    tmp_path: Path,
) -> None:
    path = tmp_path / "reference.db"
    make_reference_db(path)
    async with SessionHistory(cfg(path)) as history:
        await history.append_messages("newer", turn(0))  # written by the new program...
    newer = (*REFERENCE_ROWS[1][:3], [reference_message("user", "other")], *REFERENCE_ROWS[1][4:])
    run_the_old_program_again(path, LATER, newer)  # ...and differently by the old one
    before = digest(path)
    for read_only in (False, True):
        with pytest.raises(DatabaseError, match=r"table 'session_history' again") as info:
            async with SessionHistory(cfg(path, read_only=read_only)):
                pass
        if read_only:  # says what to do, and does nothing
            assert "read-only history does not import it" in str(info.value)
        else:  # names the session
            assert type(info.value) is MigrationError and "('newer')" in str(info.value)
    assert digest(path) == before
    with closing(sqlite3.connect(path)) as db, db:  # the user keeps the new program's version
        db.execute("DELETE FROM session_history WHERE id = 'newer'")
    async with SessionHistory(cfg(path)) as history:
        assert await history.session_count() == 3
        loaded = await history.load_session("newer")
        assert loaded is not None and len(loaded.messages) == 5
