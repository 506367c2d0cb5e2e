"""SQLite files: creation, permissions, migrations (including the reference design's schema), and
files that must be refused untouched."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import aiosqlite
import pytest

from session_history import (
    DatabaseError,
    HistoryConfig,
    MigrationError,
    NotADatabaseError,
    SchemaTooNewError,
    SessionHistory,
    Usage,
)
from session_history._backends.sqlite.schema import MIGRATIONS_TABLE, migrations
from session_history._migrations import Migrations

from .helpers import session, turn


def cfg(path: Path) -> HistoryConfig:
    return HistoryConfig(enabled=True, db_path=path, load_entrypoint_plugins=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- creation -----------------------------------------------------------------------------------


async def test_new_database_is_private_to_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "history.db"
    async with SessionHistory(cfg(path)) as history:
        await history.create_session(session("a", messages=turn(0)))
        for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


async def test_an_existing_files_mode_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    sqlite3.connect(path).close()
    path.chmod(0o640)
    async with SessionHistory(cfg(path)):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


async def test_an_empty_file_becomes_a_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    async with SessionHistory(cfg(path)) as history:
        await history.create_session(session("a"))
        assert await history.session_count() == 1


async def test_migrations_are_recorded_in_order(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    async with SessionHistory(cfg(path)):
        pass
    with sqlite3.connect(path) as db:
        names = [n for (n,) in db.execute(f"SELECT name FROM {MIGRATIONS_TABLE} ORDER BY rowid")]
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    assert names == migrations.names
    assert names[0] == "m001_initial"
    assert mode == "wal"


def test_a_duplicate_migration_name_is_an_error() -> None:
    steps: Migrations[object] = Migrations()

    @steps
    def m001_x(conn: object) -> None: ...

    with pytest.raises(ValueError, match="duplicate migration name 'm001_x'"):

        @steps
        def m001_x(conn: object) -> None: ...


def test_aiosqlite_still_runs_functions_on_its_worker_thread() -> None:
    """The backend hands whole transactions to aiosqlite's private ``Connection._execute`` and
    makes its worker thread a daemon; this fails first if an aiosqlite release changes either."""
    assert callable(getattr(aiosqlite.Connection, "_execute", None))
    connection = aiosqlite.connect(":memory:")
    assert isinstance(connection._thread, threading.Thread)
    assert not connection._thread.is_alive()


def test_a_script_that_never_closes_its_store_still_exits(tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from session_history import HistoryConfig, Session, SessionHistory, SyncSessionHistory\n"
        f"config = HistoryConfig(enabled=True, db_path={str(tmp_path / 'h.db')!r})\n"
        "forgotten = SyncSessionHistory(config)\n"
        "forgotten.create_session(Session(session_id='a', agent_name='x', model='y'))\n"
        "async def main():\n"
        "    global also\n"
        "    also = await SessionHistory(config).open()\n"
        "    await also.session_count()\n"
        "asyncio.run(main())\n"
        "print('done')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    with sqlite3.connect(tmp_path / "h.db") as db:
        assert db.execute("SELECT session_id FROM sessions").fetchall() == [("a",)]


# -- refusing files, untouched ------------------------------------------------------------------


async def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("my shopping list\n" * 50)
    before = digest(path)
    with pytest.raises(NotADatabaseError, match="not an SQLite database") as info:
        async with SessionHistory(cfg(path)):
            pass
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    assert digest(path) == before


async def test_a_damaged_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    before = digest(path)
    with pytest.raises(NotADatabaseError, match=r"damaged\.db"):
        async with SessionHistory(cfg(path)):
            pass
    assert digest(path) == before


async def test_another_programs_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    before = digest(path)
    with pytest.raises(NotADatabaseError, match=r"another program.*invoices"):
        async with SessionHistory(cfg(path)):
            pass
    assert digest(path) == before


async def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    async with SessionHistory(cfg(path)) as history:
        await history.create_session(session("a", messages=turn(0)))
    with sqlite3.connect(path) as db:
        db.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES ('m999_from_the_future', 'x')")
    before = digest(path)
    with pytest.raises(
        SchemaTooNewError, match=r"newer version.*m999_from_the_future.*upgrade"
    ) as info:
        async with SessionHistory(cfg(path)):
            pass
    assert info.value.unknown_migrations == ["m999_from_the_future"]
    assert digest(path) == before


async def test_a_directory_is_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match=r"is a directory.*history.db"):
        async with SessionHistory(cfg(tmp_path)):
            pass


async def test_an_uncreatable_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DatabaseError, match="cannot create") as info:
        async with SessionHistory(cfg(blocker / "h.db")):
            pass
    assert info.value.path == str(blocker / "h.db")


# -- the reference design's databases --------------------------------------------------------

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


def make_reference_db(path: Path, *, with_usage: bool = True) -> None:
    with sqlite3.connect(path) as db:
        for statement in REFERENCE_DDL:
            db.execute(statement)
        if with_usage:
            db.execute(REFERENCE_ALTER)
        rows = [
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
        for sid, agent, model, messages, started, updated, ended, usage in rows:
            columns = (
                "id, agent_name, model, messages, metadata, started_at, updated_at, ended_at, "
                "turn_count, tool_call_count"
            )
            values = [sid, agent, model, json.dumps(messages), None, started, updated, ended, 1, 1]
            if with_usage:
                columns += ", usage"
                values.append(usage)
            db.execute(
                f"INSERT INTO session_history ({columns}) VALUES ({', '.join('?' * len(values))})",
                values,
            )


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
    with sqlite3.connect(path) as db:
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
    with sqlite3.connect(path) as db:
        db.execute("UPDATE session_history SET messages = '[{\"role\": ' WHERE id = 'newer'")
        before = db.execute("SELECT * FROM session_history ORDER BY id").fetchall()
    with pytest.raises(MigrationError, match=r"'newer'.*rolled back.*as it was"):
        async with SessionHistory(cfg(path)):
            pass
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT * FROM session_history ORDER BY id").fetchall() == before
        assert db.execute("SELECT COUNT(*) FROM sessions").fetchone() == (0,)
        # Mended by hand, the database then migrates on the next open.
        db.execute("UPDATE session_history SET messages = '[]' WHERE id = 'newer'")
    async with SessionHistory(cfg(path)) as history:
        assert await history.session_count() == 2
