"""A URL is never a file (issue 10, point 2), and a URL that cannot work is a clear error, one
line at the command line (point 5). Tests that could create ``./postgresql:/...`` run in their
temporary directory and check that nothing appeared there."""

from __future__ import annotations

import re
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


# -- what names a database, and what naming one does (issue 20) ----------------------------------


def test_naming_a_database_enables_the_history_unless_told_otherwise(
    cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A named database that dropped every write without a word loses data silently.
    for named in (
        HistoryConfig(db_path=cwd / "path.db"),
        HistoryConfig(db_path="sqlite:///url.db"),
        HistoryConfig(url="file:uri.db"),
    ):
        assert named.enabled
        with SyncSessionHistory(named) as history:
            history.create_session(session("a", messages=turn(0)))
            assert history.load_session("a") is not None
    with monkeypatch.context() as env:
        env.setenv("SESSION_HISTORY_DB", str(cwd / "env.db"))
        assert HistoryConfig().enabled
    assert not HistoryConfig(enabled=False, db_path=cwd / "off.db").enabled  # the opt-out
    assert not HistoryConfig().enabled  # nothing named: disabled, as in the reference design
    assert sorted(p.name for p in cwd.iterdir() if not p.name.endswith(("-wal", "-shm"))) == [
        "path.db",
        "uri.db",
        "url.db",
    ]


SPELLINGS = ["postgres", "postgresql+asyncpg", "postgresql+psycopg", "POSTGRESQL+PSYCOPG2"]


@POSTGRES
@pytest.mark.parametrize("scheme", SPELLINGS)
def test_every_spelling_of_a_postgresql_url_reaches_postgresql(
    cwd: Path, session_history_db: str, scheme: str
) -> None:
    url = scheme + session_history_db[session_history_db.index(":") :]
    config = HistoryConfig(db_path=url)
    assert config.url is not None and config.url.split("://")[0] in ("postgres", "postgresql")
    with SyncSessionHistory(config) as history:
        history.create_session(session("a", messages=turn(0)))
    code, out = run_cli("--db", url, "list")
    assert code == 0 and "a\t" in out, out
    assert list(cwd.iterdir()) == []


def test_sqlite_urls_and_file_uris_name_the_file_they_say(cwd: Path, tmp_path: Path) -> None:
    absolute = tmp_path / "abs"
    absolute.mkdir()
    forms = {
        "sqlite:///relative.db": cwd / "relative.db",
        f"sqlite:///{absolute}/sqlalchemy.db": absolute / "sqlalchemy.db",  # four slashes
        f"sqlite+aiosqlite:///{absolute}/async.db": absolute / "async.db",
        "file:plain.db": cwd / "plain.db",
        f"file:{absolute}/one-slash.db": absolute / "one-slash.db",
        f"file://{absolute}/three-slashes.db": absolute / "three-slashes.db",
        f"file://localhost{absolute}/localhost.db": absolute / "localhost.db",
        "file:my%20notes.db": cwd / "my notes.db",
    }
    for form, file in forms.items():
        assert HistoryConfig(db_path=form).db_path == Path(str(file).removeprefix(f"{cwd}/"))
        code, out = run_cli("--db", form, "import", "-", input=_LINE)
        assert code == 0, (form, out)
        code, out = run_cli("--db", form, "list")
        assert code == 0 and "\na\t" in out, (form, out)
        assert file.stat().st_size > 0, form
    assert sorted(p.name for p in cwd.iterdir() if "-" not in p.name) == [
        "my notes.db",
        "plain.db",
        "relative.db",
    ]


_LINE = '{"session_id": "a", "agent_name": "x", "model": "y", "messages": []}\n'

REFUSED = [
    ("mysql://u@h/db", "does not store in mysql:// databases"),
    ("redis://h/0", "does not store in redis:// databases"),
    ("host=db.internal dbname=app user=u", "libpq's keyword form"),
    ("sqlite://", "an SQLite URL names no host"),
    ("sqlite:///:memory:", "an in-memory database would keep nothing"),
    ("sqlite:/folded.db", "'//' is missing after 'sqlite:'"),
    ("file://server/share/h.db", "names a file on this machine, not on 'server'"),
    ("file:h.db?mode=ro", "URI parameters"),
    ("", "the database path is empty"),
]


@pytest.mark.parametrize(("form", "reason"), REFUSED)
def test_a_form_that_names_no_usable_database_is_refused_never_a_file(
    cwd: Path, form: str, reason: str
) -> None:
    with pytest.raises(DatabaseError, match=re.escape(reason)):
        HistoryConfig(db_path=form)
    for command in (["list"], ["import", "-"], ["delete", "a"]):
        code, out = run_cli("--db", form, *command, input=_LINE)
        assert code == 1 and out.startswith("Error: ") and reason in out, (command, out)
        assert len(out.strip().splitlines()) == 1
    code, out = run_cli("--db", str(cwd / "never.db"), "copy", form)
    assert code == 1 and len(out.strip().splitlines()) == 1
    code, out = run_cli("demo", "--path", form)
    assert code == 1 and reason in out and len(out.strip().splitlines()) == 1
    assert list(cwd.iterdir()) == []


def test_an_empty_db_option_is_refused_not_taken_for_the_default(
    cwd: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))  # where the default database would be
    monkeypatch.delenv("SESSION_HISTORY_DB", raising=False)
    run_cli("--db", str(cwd / "h.db"), "import", "-", input=_LINE)
    copy = ["--db", str(cwd / "h.db"), "copy", ""]
    for args in (["--db", "", "list"], ["--db", "", "import", "-"], copy):
        code, out = run_cli(*args, input=_LINE)
        assert code == 1 and out.startswith("Error: the database path is empty"), (args, out)
    assert not home.exists()


def test_a_missing_folder_is_an_error_unless_the_command_creates_and_says_so(
    tmp_path: Path,
) -> None:
    where = tmp_path / "typo" / "deeper" / "h.db"
    for command in (["list"], ["show", "a"], ["stats"], ["export"], ["delete", "a"], ["upgrade"]):
        code, out = run_cli("--db", str(where), *command)
        assert code == 1 and out.startswith(f"Error: no database at {where}"), (command, out)
    assert not (tmp_path / "typo").exists()
    code, out = run_cli("--db", str(where), "import", "-", input=_LINE)
    assert code == 0, out
    made = f"{tmp_path / 'typo'}, {tmp_path / 'typo' / 'deeper'}"
    assert f"created the folders {made} for the new database {where}" in out
    code, out = run_cli("--db", str(where), "copy", str(tmp_path / "new" / "c.db"))
    assert code == 0 and f"created the folder {tmp_path / 'new'} for" in out, out
    code, out = run_cli("--db", str(tmp_path / "new" / "d.db"), "import", "-", input=_LINE)
    assert code == 0 and "created" not in out  # a folder that is there: nothing to say


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://agent@db:5432/app?application_name=me@home",
        "postgresql://db/app?options=a:b@c",
        "postgresql://agent@db:5432/app@archive",
        "postgres://agent:p%40ss@[::1]:5432,db2/app?schema=s",
    ],
)
def test_a_url_that_works_is_shown_whole_but_its_password(url: str) -> None:
    # Hiding passwords that hold an unencoded '@', '/', '?' or '#' must not misread the '@' of
    # a URL without one.
    from session_history._urls import redact_url, url_problem

    assert url_problem(url) is None
    assert redact_url(url) == url.replace(":p%40ss@", ":***@")
    assert HistoryConfig(url=url).location == redact_url(url)
