"""Every failure of the CLI is one line on standard error, saying what is wrong and what to do,
with exit status 1 (2 for a mistake in the command line), never a traceback (issue 20): numbers
past what a database counts, times past the calendar, a full disk, names the file system refuses,
folders one may not enter; and a hypothesis fuzz of every command's options.

A usage error prints one line too: click's "Usage:" and "Try ... for help" lines are folded into
it as "; see 'session-history list -h'". The only failure of more lines is an import's (or a
copy's) report: one line per bad line, the first 20, then how many more, then the summary."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from session_history import HistoryConfig, SyncSessionHistory, Usage
from session_history.cli import cli

from .helpers import session, turn

BIG = str(2**63)
LONG_NAME = "x" * 300
DEEP = "/".join(["d"] * 2000)


def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), env=env, prog_name="session-history")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def assert_one_line_error(result: Result, code: int, *expected: str) -> None:
    """Exit status ``code``, and one line on standard error: ``Error: ...`` holding ``expected``."""
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output and "unexpected error" not in result.stderr
    for text in expected:
        assert text in lines[0], (text, lines[0])


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "h.db"
    with SyncSessionHistory(HistoryConfig(enabled=True, db_path=path)) as history:
        history.create_session(session("one", messages=turn(0), usage=Usage(total_tokens=3)))
        history.create_session(session("two", messages=turn(1)))
    return str(path)


# -- numbers and times past what a database or the calendar holds ----------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--limit", BIG],
        ["list", "-n", str(2**64)],
        ["list", "--page", BIG],
        ["search", "answer", "-n", BIG],
        ["prune", "--max-sessions", BIG, "--dry-run"],
        ["list", "-n", str(2**63 - 1), "--page", "3"],  # an offset past 2^63
    ],
)
def test_a_count_past_64_bits_is_a_usage_error(
    session_history_db: str | Path, args: list[str]
) -> None:
    with SyncSessionHistory(HistoryConfig(enabled=True, db_path=session_history_db)) as history:
        history.create_session(session("one"))
    result = invoke("--db", str(session_history_db), *args)
    assert_one_line_error(result, 2, "9223372036854775807", "-h'")


def test_the_largest_count_is_taken(db: str) -> None:
    result = invoke("--db", db, "list", "-n", str(2**63 - 1), "--json")
    assert result.exit_code == 0 and '"one"' in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--since", "99999999d"],
        ["list", "--until", "99999999d"],
        ["list", "--since", "9" * 400 + "d"],
        ["list", "--until", "9999-12-31T23:59:59-14:00"],
        ["list", "--since", "0001-01-01T00:00:00+01:00"],
        ["prune", "--older-than", "99999999d"],
        ["prune", "--older-than", "99999999d", "--dry-run"],
    ],
)
def test_a_time_past_the_calendar_is_a_usage_error(
    session_history_db: str | Path, args: list[str]
) -> None:
    with SyncSessionHistory(HistoryConfig(enabled=True, db_path=session_history_db)) as history:
        history.create_session(session("one"))
    result = invoke("--db", str(session_history_db), *args)
    assert_one_line_error(result, 2, "year")


def test_stats_of_usage_too_large_to_add_up_answers_at_the_bound(db: str) -> None:
    # Written under the store, as a database made before the store refused such counts is.
    with sqlite3.connect(db) as conn:
        conn.execute(
            'UPDATE sessions SET usage = json(\'{"input_tokens": 1e30, "output_tokens": 1, '
            '"total_tokens": 1e30}\')'
        )
    conn.close()
    result = invoke("--db", db, "stats", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["input_tokens"] == 2**63 - 1


# -- files and folders the system refuses ------------------------------------------------------


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_an_export_to_a_full_disk_says_so(db: str) -> None:
    result = invoke("--db", db, "export", "-o", "/dev/full")
    assert_one_line_error(result, 1, "/dev/full", "No space left on device", "free some space")


@pytest.mark.parametrize(
    "args",
    [
        ["--db", LONG_NAME, "list"],
        ["--db", LONG_NAME, "import", "{export}"],
        ["--db", "{db}", "copy", LONG_NAME],
        ["--db", "{db}", "export", "-o", LONG_NAME],
        ["--db", "{db}", "import", LONG_NAME],
        ["demo", "--path", LONG_NAME],
    ],
)
def test_a_file_name_over_255_bytes_is_one_line(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    export = tmp_path / "e.jsonl"
    export.write_text(invoke("--db", db, "export").stdout)
    result = invoke(*(arg.format(db=db, export=export) for arg in args))
    assert result.exit_code in (1, 2)
    assert_one_line_error(result, result.exit_code, "File name too long", "shorter")


@pytest.mark.parametrize("command", [["list"], ["import", "{export}"], ["copy", "{deep}"]])
def test_a_path_of_2000_parts_is_one_line(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    export = tmp_path / "e.jsonl"
    export.write_text(invoke("--db", db, "export").stdout)
    where = db if "copy" in command else DEEP
    args = [arg.format(export=export, deep=DEEP) for arg in command]
    result = invoke("--db", where, *args)
    assert_one_line_error(result, 1, "(3999 characters)")
    assert not (tmp_path / "d").exists()  # no folder made on the way
    assert_one_line_error(invoke("demo", "--path", DEEP), 1, "1999 folders")


def _unprivileged() -> list[str] | None:
    """How to run a command as someone the folder's mode keeps out: as root, in a user namespace
    of its own (where root is nobody); as anyone else, as themselves. None if neither works."""
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    probe = subprocess.run([unshare, "--user", "true"], capture_output=True, timeout=30)
    return [unshare, "--user"] if probe.returncode == 0 else None


@pytest.mark.parametrize("command", [["list"], ["import", "{export}"], ["stats"]])
def test_a_path_under_a_folder_one_cannot_enter_is_one_line(
    db: str, tmp_path: Path, command: list[str]
) -> None:
    prefix = _unprivileged()
    if prefix is None:
        pytest.skip("running as root without user namespaces: no folder keeps root out")
    export = tmp_path / "e.jsonl"
    export.write_text(invoke("--db", db, "export").stdout)
    export.chmod(0o644)
    locked = tmp_path / "locked"
    (locked / "inner").mkdir(parents=True)
    shutil.copy(db, locked / "inner" / "h.db")
    tmp_path.chmod(0o755)
    locked.chmod(0)
    try:
        script = str(Path(sys.executable).with_name("session-history"))
        args = [arg.format(export=export) for arg in command]
        result = subprocess.run(
            [*prefix, script, "--db", str(locked / "inner" / "h.db"), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        locked.chmod(0o700)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: cannot use")
    assert "Permission denied" in result.stderr and "ask for access" in result.stderr


# -- how a failure is said -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["list", "-n", "x"], "see 'session-history list -h'"),
        (["nope"], "No such command 'nope'; see 'session-history -h'"),
        (["--db"], "requires an argument; see 'session-history -h'"),
        (["show"], "Missing argument 'SESSION_ID'; see 'session-history show -h'"),
        (["prune"], "say what to prune"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_help(args: list[str], expected: str) -> None:
    assert_one_line_error(invoke(*args), 2, expected)


def test_an_unforeseen_error_is_one_line_without_the_password(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: object, *args: object, **kwargs: object) -> None:
        raise RuntimeError("boom for postgresql://u:S3cret@host/db and S3cret")

    monkeypatch.setattr(SyncSessionHistory, "list_sessions", broken)
    result = invoke("--db", db, "list", "--agent", "postgresql://u:S3cret@host/db")
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.startswith("Error: unexpected error (RuntimeError: boom") and "\n" not in line
    assert "S3cret" not in result.output and "bug of session-history" in line
    debug = CliRunner().invoke(cli, ["--db", db, "list"], env={"SESSION_HISTORY_DEBUG": "1"})
    assert isinstance(debug.exception, RuntimeError)  # the traceback, for a bug report


# -- a fuzz of every command's options --------------------------------------------------------

WORDS = [
    "",
    " ",
    "0",
    "-1",
    "1",
    "7d",
    "0s",
    "1.5h",
    "99999999d",
    "9" * 30 + "w",
    "2026-01-31",
    "2026-01-31T08:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+01:00",
    "one",
    "two",
    "answer",
    '"unbalanced',
    "word*",
    "\x1b]0;title\x07",
    "a\rb",
    "\udcff",
    LONG_NAME,
    DEEP,
    "/dev/null",  # not /dev/full: as an import's source it is one endless line
    "/nonexistent/h.db",
    "-",
    ".",
    "sub/new.db",
    "postgresql://",
    "mysql://h/db",
]
NUMBERS = [0, 1, 2, -1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30]


def values(param: click.Parameter) -> st.SearchStrategy[str]:
    words = st.sampled_from(WORDS) | st.text(
        st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12
    )
    if isinstance(param.type, click.types.IntParamType):
        return st.sampled_from(NUMBERS).map(str) | st.integers().map(str) | words
    return words


def command_lines() -> st.SearchStrategy[list[str]]:
    def for_command(name: str, command: click.Command) -> st.SearchStrategy[list[str]]:
        parts: list[st.SearchStrategy[list[str]]] = []
        for param in command.params:
            if isinstance(param, click.Option):
                opt = param.opts[0]
                if param.is_flag:
                    parts.append(st.sampled_from([[], [opt]]))
                else:
                    parts.append(st.just([]) | values(param).map(lambda v, o=opt: [o, v]))
            else:  # an argument: usually given, sometimes left out
                parts.append(values(param).map(lambda v: [v]) | st.just([]))
        return st.tuples(*parts).map(lambda ps: [name] + [arg for part in ps for arg in part])

    assert isinstance(cli, click.Group)
    commands = [for_command(name, command) for name, command in sorted(cli.commands.items())]
    db_param = next(param for param in cli.params if param.name == "db")
    db_option = st.sampled_from([["--db", "{db}"]] * 6 + [[], ["--db", "{empty}"]]) | values(
        db_param
    ).map(lambda v: ["--db", v])
    return st.tuples(db_option, st.one_of(commands)).map(lambda t: t[0] + t[1])


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "template.db"
    with SyncSessionHistory(HistoryConfig(enabled=True, db_path=path)) as history:
        history.create_session(session("one", messages=turn(0)))
        history.create_session(session("two", agent_name="other", messages=turn(1)))
    return path


@settings(
    max_examples=int(os.environ.get("SESSION_HISTORY_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(args=command_lines())
def test_no_command_line_ends_in_a_traceback(template: Path, args: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        shutil.copy(template, here / "h.db")
        (here / "empty.db").touch()
        argv = [
            arg.replace("{db}", str(here / "h.db")).replace("{empty}", str(here / "empty.db"))
            for arg in args
        ]
        runner = CliRunner()
        # Relative paths land in the folder; the default database and the demo's are in it too.
        env: dict[str, str | None] = {"XDG_DATA_HOME": folder, "SESSION_HISTORY_DB": None}
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            result = runner.invoke(cli, argv, env=env)
        finally:
            os.chdir(cwd)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        argv,
        result.output,
    )
    assert result.exit_code in (0, 1, 2), (argv, result.output)
    assert "Traceback" not in result.output, (argv, result.output)
    assert "unexpected error" not in result.stderr, (argv, result.stderr)
    if result.exit_code == 0:
        return
    lines = result.stderr.splitlines()
    if lines and lines[-1].startswith(("imported ", "copied ")):  # a report of bad lines
        assert all(not line.startswith("Error") for line in lines), (argv, lines)
        return
    assert len(lines) == 1 and lines[0].startswith("Error: "), (argv, result.stderr)
