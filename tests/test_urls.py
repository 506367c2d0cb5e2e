"""A URL is never a file (issue 10, point 2), and a URL that cannot work is a clear error, one
line at the command line (point 5). Tests that could create ``./postgresql:/...`` run in their
temporary directory and check that nothing appeared there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from session_history import (
    DatabaseError,
    HistoryConfig,
    SessionHistory,
    SyncSessionHistory,
)

from .helpers import run_cli, session, turn

POSTGRES = pytest.mark.session_history(backends=["postgresql"])


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's own directory as the working directory, where a URL taken for a relative
    path would become a file; each test checks that it stays empty."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


FOLDED = "postgresql:/agent@127.0.0.1:1/db"
"""What ``str(Path("postgresql://agent@127.0.0.1:1/db"))`` is: pathlib folds the ``//``."""


def test_a_url_made_into_a_path_is_refused_never_a_file(cwd: Path) -> None:
    for given in (Path("postgresql://agent@127.0.0.1:1/db"), FOLDED, Path(FOLDED)):
        config = HistoryConfig(enabled=True, db_path=given)  # type: ignore[arg-type]
        assert config.url is not None, given
        with pytest.raises(DatabaseError, match=r"'//' is missing.*give the URL as a string"):
            SyncSessionHistory(config)
    assert list(cwd.iterdir()) == []


@POSTGRES
def test_a_url_in_db_path_goes_to_postgresql(cwd: Path, session_history_db: str) -> None:
    url = session_history_db
    config = HistoryConfig.model_validate({"enabled": True, "db_path": url})
    assert config.url == url
    with SyncSessionHistory(config) as history:
        history.create_session(session("a", messages=turn(0)))
        assert type(history.history._backend).__name__ == "PostgresBackend"
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://u:pw@host:abc/x", r"the port 'abc' is not a number from 1 to 65535"),
        ("postgresql://u@h1:5432,h2:99999/x", r"the port '99999'"),
        ("postgresql://u@[::1/x", r"Invalid IPv6 URL"),
        ("postgres:/u@host/x", r"'//' is missing after 'postgres:'"),
    ],
)
def test_a_malformed_url_is_a_clear_database_error(url: str, problem: str) -> None:
    config = HistoryConfig(enabled=True, url=url)
    with pytest.raises(DatabaseError, match=problem) as info:
        SessionHistory(config)
    message = str(info.value)
    assert "is not a usable PostgreSQL URL" in message and "postgresql://USER" in message
    assert "pw" not in message.replace("postgresql://USER[:PASSWORD]", "")
    assert info.value.path is not None and url.split("@")[-1].split("/")[0] in info.value.path


async def test_what_the_driver_refuses_in_a_url_is_a_clear_error_too() -> None:
    # Passes our checks, fails in the driver's own reading of its parameters.
    config = HistoryConfig(enabled=True, url="postgresql://u:pw@127.0.0.1/x?sslmode=bogus")
    with pytest.raises(DatabaseError, match="is not a usable PostgreSQL URL: `sslmode`") as info:
        async with SessionHistory(config):
            pass
    assert type(info.value) is DatabaseError  # not a lost connection: retrying cannot help
    assert ":pw@" not in str(info.value)


@pytest.mark.parametrize(
    "db",
    ["postgresql://u@host:abc/x", "postgresql://u@[::1/x", FOLDED, "postgresql://u@h:0/x"],
)
@pytest.mark.parametrize("command", [["list"], ["show", "a"], ["import", "-"], ["delete", "a"]])
def test_the_cli_says_what_is_wrong_with_a_url_in_one_line(
    cwd: Path, db: str, command: list[str]
) -> None:
    line = '{"session_id": "a", "agent_name": "x", "model": "y", "messages": []}\n'
    code, out = run_cli("--db", db, *command, input=line)
    assert code == 1, out
    assert out.startswith("Error: ") and "is not a usable PostgreSQL URL" in out
    assert len(out.strip().splitlines()) == 1
    assert list(cwd.iterdir()) == []


@POSTGRES
def test_demo_takes_a_url_to_postgresql_and_never_makes_a_file(
    cwd: Path, session_history_db: str
) -> None:
    url = session_history_db
    code, out = run_cli("demo", "--path", url)
    assert code == 0, out
    assert f"Stored in {url}" in out and f"session-history --db {url} show" in out
    code, listed = run_cli("--db", url, "list", "--json")
    assert code == 0 and len(listed.strip()) > 2
    code, out = run_cli("demo", "--path", FOLDED)
    assert code == 1 and "'//' is missing" in out and len(out.strip().splitlines()) == 1
    assert list(cwd.iterdir()) == []


def test_search_with_bytes_that_are_not_utf8_is_a_one_line_error(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with SyncSessionHistory(HistoryConfig(enabled=True, db_path=db)) as history:
        history.create_session(session("a", messages=turn(0)))
    # As the shell passes them: the bytes of Latin-1 "café", decoded with surrogateescape.
    for args in (
        ["search", "caf\udce9"],
        ["show", "caf\udce9"],
        ["delete", "caf\udce9"],
        ["list", "--agent", "caf\udce9"],
    ):
        code, out = run_cli("--db", str(db), *args)
        assert code == 1, (args, out)
        assert "is not valid UTF-8 text (byte 0xe9 at position 4)" in out, out
        assert len(out.strip().splitlines()) == 1
    script = Path(sys.executable).with_name("session-history")
    real = subprocess.run(
        [str(script), "--db", str(db), "search", b"caf\xe9"], capture_output=True, timeout=60
    )
    assert real.returncode == 1
    assert real.stderr.strip().splitlines() == [
        b"Error: QUERY is not valid UTF-8 text (byte 0xe9 at position 4); type it in a UTF-8 "
        b"terminal (a UTF-8 locale, such as LANG=C.UTF-8)"
    ]
