"""SQLite files: creation, permissions, migrations (including the reference design's schema), and
files that must be refused untouched."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
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
    SyncSessionHistory,
)
from session_history._backends.sqlite.schema import MIGRATIONS_TABLE, migrations
from session_history._migrations import Migrations

from .helpers import run_cli, session, turn


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
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA user_version = 0")  # connecting alone leaves an empty file
    path.chmod(0o640)
    async with SessionHistory(cfg(path)):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


async def test_new_databases_opened_at_once_on_one_path_are_all_whole(tmp_path: Path) -> None:
    # A new file appears with its header: another store opening the path meanwhile never sees
    # the empty file it would refuse.
    path = tmp_path / "new.db"
    stores = [SessionHistory(cfg(path)) for _ in range(8)]
    await asyncio.gather(*(store.open() for store in stores))
    await stores[3].create_session(session("a", messages=turn(0)))
    for store in stores:
        assert await store.session_count() == 1
        await store.close()
    assert os.listdir(tmp_path) == ["new.db"]  # no temporary file left


def test_folders_and_files_the_store_creates_are_private_even_under_umask_000(
    tmp_path: Path,
) -> None:
    source = tmp_path / "h.db"
    with SyncSessionHistory(cfg(source)) as history:
        history.create_session(session("a", messages=turn(0)))
    existing = tmp_path / "shared.jsonl"
    existing.touch(mode=0o644)
    previous = os.umask(0)
    try:
        path = tmp_path / "deep" / "er" / "history.db"
        with SyncSessionHistory(cfg(path)) as history:
            history.create_session(session("a", messages=turn(0)))
            journal = [Path(f"{path}-wal"), Path(f"{path}-shm")]
            assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in journal)
        exported = tmp_path / "export.jsonl"
        for output in (exported, existing):
            code, out = run_cli("--db", str(source), "export", "-o", str(output))
            assert code == 0 and output.read_text().startswith('{"session_id":"a"'), out
        target = tmp_path / "made" / "by" / "import.db"
        code, out = run_cli("--db", str(target), "import", "-", input=exported.read_text())
        assert code == 0, out
    finally:
        os.umask(previous)
    modes = {
        p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in tmp_path.rglob("*")
        if p != source and not p.name.startswith("h.db")
    }
    assert modes == {
        "deep": 0o700,
        "deep/er": 0o700,
        "deep/er/history.db": 0o600,
        "export.jsonl": 0o600,
        "shared.jsonl": 0o644,  # a file that was there keeps its mode, as a database does
        "made": 0o700,
        "made/by": 0o700,
        "made/by/import.db": 0o600,
    }


async def test_an_export_that_cannot_start_leaves_no_file(tmp_path: Path) -> None:
    output = tmp_path / "export.jsonl"
    code, out = run_cli("--db", str(tmp_path / "missing.db"), "export", "-o", str(output))
    assert code == 1 and out.startswith("Error: no database at")
    code, out = run_cli("--db", str(tmp_path), "export", "-o", str(tmp_path / "nope" / "x"))
    assert code == 1 and not output.exists()


NOT_A_DATABASE = {
    "empty": r"is empty \(0 bytes\), not a session-history database",
    "/dev/null": r"/dev/null is a character device, not a file, so no session-history database",
}
EVERY_COMMAND = [
    ["list"],
    ["show", "a"],
    ["search", "a"],
    ["stats"],
    ["export"],
    ["delete", "a"],
    ["prune", "--max-sessions", "1"],
    ["upgrade"],
    ["import", "-"],
]


@pytest.mark.parametrize("kind", NOT_A_DATABASE)
def test_an_empty_file_or_a_device_is_refused_the_same_by_the_library_and_every_command(
    tmp_path: Path, kind: str
) -> None:
    path = Path(kind) if kind.startswith("/") else tmp_path / "empty.db"
    if kind == "empty":
        path.touch()
    why = NOT_A_DATABASE[kind]
    for read_only in (False, True):
        with pytest.raises(NotADatabaseError, match=why):
            SyncSessionHistory(cfg(path).model_copy(update={"read_only": read_only}))
    line = '{"session_id": "a", "agent_name": "x", "model": "y", "messages": []}\n'
    source = tmp_path / "source.db"
    with SyncSessionHistory(cfg(source)) as history:
        history.create_session(session("a"))
    for args in (
        *(["--db", str(path), *command] for command in EVERY_COMMAND),
        ["--db", str(source), "copy", str(path)],
        ["demo", "--path", str(path)],
    ):
        code, out = run_cli(*args, input=line)
        assert code == 1, (args, out)
        assert re.match(f"Error: .*{why}", out) and len(out.strip().splitlines()) == 1, out
    if kind == "empty":
        assert path.read_bytes() == b""
        assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "source.db"]


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
    """The backend queues whole transactions on aiosqlite's private worker queue
    (``Connection._tx``, entries ``(future or None, function)``) and makes its worker thread a
    daemon; this fails first if an aiosqlite release changes either."""
    import queue

    connection = aiosqlite.connect(":memory:")
    assert isinstance(connection._thread, threading.Thread)
    assert not connection._thread.is_alive()
    assert isinstance(connection._tx, queue.SimpleQueue)
    ran = threading.Event()
    connection._tx.put_nowait((None, ran.set))
    connection._thread.start()
    assert ran.wait(10)
    connection.stop()


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


async def test_a_step_whose_sql_fails_is_a_migration_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    async with SessionHistory(cfg(path)) as history:
        await history.create_session(session("a", messages=turn(0)))
    last = migrations.names[-1]
    with sqlite3.connect(path) as db:  # the last step not recorded, though what it made is there
        db.execute(f"DELETE FROM {MIGRATIONS_TABLE} WHERE name = ?", (last,))
    before = digest(path)
    with pytest.raises(MigrationError, match=rf"could not upgrade .*\({last}: .*rolled back"):
        async with SessionHistory(cfg(path)):
            pass
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


async def test_a_foreign_database_with_tables_named_like_ours_names_them(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE sessions (id INTEGER PRIMARY KEY, token TEXT)")
        db.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, body TEXT)")
    before = digest(path)
    with pytest.raises(NotADatabaseError, match=r"another program \(tables: messages, sessions\)"):
        async with SessionHistory(cfg(path)):
            pass
    assert digest(path) == before


def without_write_rights() -> list[str]:
    """A command prefix that runs a process which file modes bind: as root (as in CI), setpriv
    drops the capability that lets root write anywhere; otherwise modes bind already."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("as root, a directory can only be made unwritable with setpriv (util-linux)")
    drop = "-dac_override,-fowner"
    return [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}"]


def test_a_healthy_database_in_an_unwritable_directory_is_not_called_damaged(
    tmp_path: Path,
) -> None:
    """SQLite keeps a WAL database's journal in files beside it, made even to read: in a
    directory that cannot be written, the error says so, not that the file may be corrupt."""
    folder = tmp_path / "locked"
    folder.mkdir()
    path = folder / "h.db"
    with SyncSessionHistory(cfg(path)) as history:
        history.create_session(session("a", messages=turn(0)))
    before = digest(path)
    script = (
        "import sys\n"
        "from session_history import HistoryConfig, SessionHistoryError, SyncSessionHistory\n"
        "for read_only in (False, True):\n"
        "    config = HistoryConfig(enabled=True, db_path=sys.argv[1], read_only=read_only)\n"
        "    try:\n"
        "        SyncSessionHistory(config).close()\n"
        "    except SessionHistoryError as exc:\n"
        "        print(type(exc).__name__, exc)\n"
    )
    cli = str(Path(sys.executable).with_name("session-history"))
    folder.chmod(0o555)
    try:
        library = subprocess.run(
            [*without_write_rights(), sys.executable, "-c", script, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        command = subprocess.run(
            [*without_write_rights(), cli, "--db", str(path), "list"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        folder.chmod(0o755)
    assert library.returncode == 0, library.stderr
    reports = library.stdout.strip().splitlines()
    assert len(reports) == 2, library.stdout  # writable or read-only, the same true reason
    for report in reports:
        assert report.startswith("DatabaseError cannot use"), report
        assert f"the directory {folder} is not writable by this user" in report
        assert "h.db-wal" in report and "corrupt" not in report and "damaged" not in report
    assert command.returncode == 1
    assert command.stderr.startswith(f"Error: cannot use {path}: SQLite keeps its journal")
    assert len(command.stderr.strip().splitlines()) == 1
    assert digest(path) == before and sorted(p.name for p in folder.iterdir()) == ["h.db"]


def test_a_reader_of_a_write_protected_database_leaves_no_files_behind(tmp_path: Path) -> None:
    """A database this user may only read (0444) could only be opened read-only, and SQLite
    left its -wal and -shm files behind, made and never removed; now reading adds nothing."""
    path = tmp_path / "h.db"
    with SyncSessionHistory(cfg(path)) as history:
        history.create_session(session("a", messages=turn(0)))
    path.chmod(0o444)
    before = digest(path)
    script = (
        "import sys\n"
        "from session_history import HistoryConfig, SyncSessionHistory\n"
        "config = HistoryConfig(db_path=sys.argv[1], read_only=True)\n"
        "with SyncSessionHistory(config) as history:\n"
        "    print(history.session_count(), len(history.search('answer')))\n"
    )
    library = subprocess.run(
        [*without_write_rights(), sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert library.returncode == 0 and library.stdout.split() == ["1", "1"], library.stderr
    cli = str(Path(sys.executable).with_name("session-history"))
    for command in (["list"], ["show", "a"], ["search", "answer"], ["stats"], ["export"]):
        done = subprocess.run(
            [*without_write_rights(), cli, "--db", str(path), *command],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0 and done.stdout, (command, done.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.db"]
    assert digest(path) == before
