"""Reading changes nothing: ``HistoryConfig(read_only=True)`` and the CLI's reading commands
never create, migrate or write a database, and refuse, in one line, what they would have to
change (issue 10, point 14)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path

import pytest

from session_history import DatabaseError, HistoryConfig, SessionHistory, SyncSessionHistory
from session_history._backends.sqlite.schema import MIGRATIONS_TABLE

from .helpers import run_cli, session, turn

POSTGRES = pytest.mark.session_history(backends=["postgresql"])


def fresh(tmp_path: Path) -> HistoryConfig:
    """A config on a file that does not exist yet."""
    return HistoryConfig(enabled=True, db_path=tmp_path / "new" / "h.db")


def snapshot(folder: Path) -> dict[str, str]:
    """Every file of a directory with a digest of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


async def test_a_read_only_history_reads_and_refuses_every_write(
    session_history_config: HistoryConfig,
) -> None:
    config = session_history_config
    async with SessionHistory(config) as history:
        await history.create_session(session("a", messages=turn(0)))
        before = [line async for line in history.export_jsonl()]
    read_only = config.model_copy(update={"read_only": True})
    async with SessionHistory(read_only) as history:
        loaded = await history.load_session("a")
        assert loaded is not None and loaded.messages == turn(0)
        assert [s.id for s in await history.list_sessions()] == ["a"]
        assert [h.session_id for h in await history.search("answer")] == ["a"]
        assert (await history.stats()).sessions == 1
        assert [s.id for s in await history.prune(max_sessions=0, dry_run=True)] == ["a"]
        writes: list[Callable[[], Awaitable[object]]] = [
            lambda: history.create_session(session("b")),
            lambda: history.save_session(session("a")),
            lambda: history.append_messages("a", turn(1)),
            lambda: history.pop_messages("a"),
            lambda: history.delete_session("a"),
            lambda: history.prune(max_sessions=0),
            lambda: history.import_jsonl([before[0].replace('"a"', '"c"', 1)]),
        ]
        for write in writes:
            with pytest.raises(DatabaseError, match=r"opened read-only.*nothing was written"):
                await write()
    async with SessionHistory(config) as history:
        assert [line async for line in history.export_jsonl()] == before


async def test_reading_leaves_the_files_as_they_were(tmp_path: Path) -> None:
    config = fresh(tmp_path)
    async with SessionHistory(config) as history:
        await history.create_session(session("a", messages=turn(0)))
    folder = config.db_path.parent
    before = snapshot(folder)
    async with SessionHistory(config.model_copy(update={"read_only": True})) as history:
        assert await history.session_count() == 1
    assert snapshot(folder) == before  # no -wal or -shm left behind either


async def test_a_read_only_history_creates_nothing(tmp_path: Path) -> None:
    config = fresh(tmp_path)
    config.db_path.parent.mkdir()
    read_only = config.model_copy(update={"read_only": True})
    with pytest.raises(DatabaseError, match=r"no database at .*does not create one"):
        await SessionHistory(read_only).open()
    assert not config.db_path.exists()
    config.db_path.touch()
    with pytest.raises(DatabaseError, match=r"is empty \(0 bytes\).*not changed"):
        await SessionHistory(read_only).open()
    assert config.db_path.stat().st_size == 0
    with sqlite3.connect(config.db_path) as db:  # an SQLite file with nothing in it
        db.execute("VACUUM")
    with pytest.raises(DatabaseError, match="holds no session-history database yet"):
        await SessionHistory(read_only).open()


@POSTGRES
async def test_a_read_only_history_does_not_create_a_postgresql_schema(
    session_history_db: str,
) -> None:
    url = session_history_db  # a schema of the test's own, not made yet
    config = HistoryConfig(enabled=True, url=url, read_only=True, load_entrypoint_plugins=False)
    with pytest.raises(DatabaseError, match="holds no session-history database yet"):
        await SessionHistory(config).open()
    code, out = run_cli("--db", url, "list")
    assert code == 1 and "holds no session-history database yet" in out
    async with SessionHistory(config.model_copy(update={"read_only": False})):
        pass  # now it is made
    async with SessionHistory(config) as history:
        assert await history.session_count() == 0


async def test_an_old_database_is_refused_untouched_until_upgraded(tmp_path: Path) -> None:
    config = fresh(tmp_path)
    async with SessionHistory(config) as history:
        await history.create_session(session("a", messages=turn(0)))
    with closing(sqlite3.connect(config.db_path)) as db, db:  # as the previous version left it
        db.execute("DROP TABLE messages_fts")
        db.execute(f"DELETE FROM {MIGRATIONS_TABLE} WHERE name = 'm003_full_text_search'")
    folder = config.db_path.parent
    before = snapshot(folder)
    with pytest.raises(DatabaseError, match=r"needs upgrading \(pending: m003_full_text_search\)"):
        await SessionHistory(config.model_copy(update={"read_only": True})).open()
    db = str(config.db_path)
    for command in (["list"], ["show", "a"], ["search", "answer"], ["stats"], ["export"]):
        code, out = run_cli("--db", db, *command)
        assert code == 1 and "needs upgrading" in out and len(out.strip().splitlines()) == 1
    assert snapshot(folder) == before
    code, out = run_cli("--db", db, "upgrade")
    assert code == 0 and "is up to date" in out
    code, out = run_cli("--db", db, "search", "answer")
    assert code == 0 and "a  #3 assistant" in out


READING = [["list"], ["show", "a"], ["search", "a"], ["stats"], ["export"]]
CHANGING = [["delete", "a"], ["prune", "--max-sessions", "1"], ["upgrade"]]


@pytest.mark.parametrize(
    "command", READING + CHANGING + [["prune", "--dry-run", "--older-than", "1d"]]
)
def test_commands_on_a_missing_or_empty_file_change_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "missing.db"
    code, out = run_cli("--db", str(missing), *command)
    assert code == 1 and out.startswith(f"Error: no database at {missing}")
    empty = tmp_path / "empty.db"
    empty.touch()
    code, out = run_cli("--db", str(empty), *command)
    assert code == 1 and out.startswith(f"Error: {empty} is empty (0 bytes)")
    assert len(out.strip().splitlines()) == 1
    assert snapshot(tmp_path) == {"empty.db": hashlib.sha256(b"").hexdigest()}


def test_reading_commands_leave_a_database_as_they_found_it(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with SyncSessionHistory(HistoryConfig(enabled=True, db_path=db)) as history:
        history.create_session(session("a", messages=turn(0)))
    before = snapshot(tmp_path)
    for command in [*READING, ["prune", "--dry-run", "--max-sessions", "0"]]:
        code, out = run_cli("--db", str(db), *command)
        assert code == 0, (command, out)
    assert snapshot(tmp_path) == before


def test_describing_a_database_for_a_test_report_changes_nothing(tmp_path: Path) -> None:
    """session_history.testing.describe_database (a failing test's report) only reads."""
    from session_history.testing import describe_database

    missing = tmp_path / "gone.db"
    assert "(could not read it: no database at" in describe_database(missing)
    assert not missing.exists()
    db = tmp_path / "h.db"
    with SyncSessionHistory(HistoryConfig(enabled=True, db_path=db)) as history:
        history.create_session(session("a", messages=turn(0)))
    before = snapshot(tmp_path)
    assert "1 session(s):" in describe_database(db)
    assert snapshot(tmp_path) == before
