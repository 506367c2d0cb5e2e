"""The command line, through click's own runner and, for a few, a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from session_history import HistoryConfig, SyncSessionHistory
from session_history.cli import cli

from .helpers import session, turn


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def make_db(path: Path) -> None:
    with SyncSessionHistory(
        HistoryConfig(enabled=True, db_path=path, load_entrypoint_plugins=False)
    ) as h:
        h.create_session(session("first", messages=turn(0), metadata={"title": "hello"}))
        h.create_session(session("second", agent_name="other", messages=turn(1)))


def test_demo_records_prunes_and_lists(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    code, out = run("demo", "--path", str(path))
    assert code == 0, out
    assert "hook saved   create" in out and "hook saved   append" in out
    code, out = run("demo", "--path", str(path))
    assert code == 0, out
    assert "hook pruned  3 session(s) by max_sessions" in out
    assert out.count("-agent-") >= 3
    code, listed = run("--db", str(path), "list", "--json")
    assert code == 0 and len(json.loads(listed)) == 3


def test_list_and_show(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    make_db(path)
    code, out = run("--db", str(path), "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "AGENT", "MODEL"]
    assert [line.split()[0] for line in lines[1:]] == ["second", "first"]
    code, out = run("--db", str(path), "list", "--agent", "other", "--json")
    assert [s["id"] for s in json.loads(out)] == ["second"]
    code, out = run("--db", str(path), "show", "first")
    assert code == 0
    assert 'calls lookup({"i": 0})' in out and "answer 0" in out and "title   hello" in out
    code, out = run("--db", str(path), "show", "first", "--json")
    assert json.loads(out)["session_id"] == "first"


def test_db_from_the_environment(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "env.db"
    make_db(path)
    monkeypatch.setenv("SESSION_HISTORY_DB", str(path))
    code, out = run("list", "--json")
    assert code == 0 and len(json.loads(out)) == 2


def test_user_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    code, out = run("--db", str(tmp_path / "missing.db"), "list")
    assert code == 1 and out.startswith("Error: no database at") and "Traceback" not in out
    path = tmp_path / "h.db"
    make_db(path)
    code, out = run("--db", str(path), "show", "nope")
    assert code == 1 and "no session with id 'nope'" in out
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    code, out = run("--db", str(text), "list")
    assert code == 1 and "not an SQLite database" in out and len(out.strip().splitlines()) == 1


def test_every_command_and_option_has_help() -> None:
    def walk(command: click.Command, path: str) -> None:
        assert command.help or command.short_help, f"{path} has no help"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{path} {param.opts} has no help"
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}")

    walk(cli, "session-history")


def test_the_installed_script_runs(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    make_db(path)
    script = Path(sys.executable).with_name("session-history")
    result = subprocess.run(
        [str(script), "--db", str(path), "list"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "first" in result.stdout
