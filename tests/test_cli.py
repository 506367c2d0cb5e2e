"""The command line, through click's own runner and, for a few, a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from session_history import (
    ChatMessage,
    HistoryConfig,
    SyncSessionHistory,
    ToolCall,
    Usage,
    hookimpl,
)
from session_history import _plugins as plugins_module
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


# -- the history browser ------------------------------------------------------------------------


def populated(tmp_path: Path) -> Path:
    path = tmp_path / "h.db"
    config = HistoryConfig(enabled=True, db_path=path, load_entrypoint_plugins=False)
    with SyncSessionHistory(config) as h:
        h.create_session(session("old", agent_name="ops", model="m1", messages=turn(0)))
        h.create_session(
            session(
                "new",
                agent_name="travel",
                model="m2",
                messages=[
                    ChatMessage(role="user", content="Umbrella in Lisbon?"),
                    ChatMessage(
                        role="assistant",
                        reasoning="check the forecast",
                        tool_calls=[
                            ToolCall(id="c1", name="forecast", arguments={"city": "Lisbon"})
                        ],
                    ),
                    ChatMessage(role="tool", tool_call_id="c1", content="rain 70%"),
                    ChatMessage(role="assistant", content="Take the umbrella."),
                ],
                usage=Usage(input_tokens=10, output_tokens=4, total_tokens=14),
            )
        )
    return path


def test_list_filters_and_pages(tmp_path: Path) -> None:
    db = str(populated(tmp_path))
    assert ids(run("--db", db, "list", "--json")[1]) == ["new", "old"]
    assert ids(run("--db", db, "list", "--agent", "ops", "--json")[1]) == ["old"]
    assert ids(run("--db", db, "list", "--model", "m2", "--json")[1]) == ["new"]
    assert ids(run("--db", db, "list", "--since", "1h", "--json")[1]) == ["new", "old"]
    assert ids(run("--db", db, "list", "--until", "2000-01-01", "--json")[1]) == []
    assert ids(run("--db", db, "list", "-n", "1", "--json")[1]) == ["new"]
    assert ids(run("--db", db, "list", "-n", "1", "--page", "2", "--json")[1]) == ["old"]
    code, out = run("--db", db, "list", "--since", "yesterday-ish")
    assert code == 2 and "is not a time" in out


def ids(output: str) -> list[str]:
    return [s["id"] for s in json.loads(output)]


def test_plain_text_when_piped_and_a_table_on_a_terminal(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    db = str(populated(tmp_path))
    code, piped = run("--db", db, "list")
    assert piped.splitlines()[0].split("\t")[:3] == ["ID", "AGENT", "MODEL"]
    monkeypatch.setattr("session_history._cli_common.is_terminal", lambda: True)
    code, shown = run("--db", db, "list")
    assert code == 0
    assert "\t" not in shown and shown.splitlines()[0].startswith("ID   ")


def test_show_as_text_markdown_and_json(tmp_path: Path) -> None:
    db = str(populated(tmp_path))
    code, out = run("--db", db, "show", "new")
    assert code == 0
    for expected in (
        "thinking: check the forecast",
        'calls forecast({"city": "Lisbon"})',
        "tool -> c1",
        "rain 70%",
        "usage   10 in, 4 out, 14 total",
    ):
        assert expected in out, expected
    code, md = run("--db", db, "show", "new", "--markdown")
    assert md.startswith("# Session `new`") and "```json" in md and "## 3. Assistant" in md
    code, js = run("--db", db, "show", "new", "--json")
    assert json.loads(js)["messages"][1]["tool_calls"][0]["name"] == "forecast"


def test_search(tmp_path: Path) -> None:
    db = str(populated(tmp_path))
    code, out = run("--db", db, "search", "umbrella")
    assert code == 0
    assert "new  #0 user" in out and "#3 assistant" in out and "[umbrella]" in out.lower()
    code, out = run("--db", db, "search", "forecast", "--json")
    hits = json.loads(out)
    assert {(h["session_id"], h["seq"]) for h in hits} == {("new", 1)}
    assert "[forecast]" in hits[0]["snippet"]
    code, out = run("--db", db, "search", "lisbon", "--agent", "ops", "--json")
    assert json.loads(out) == []
    code, out = run("--db", db, "search", '"unclosed')
    assert code == 1 and "unbalanced quote" in out and "Traceback" not in out


def test_stats(tmp_path: Path) -> None:
    db = str(populated(tmp_path))
    code, out = run("--db", db, "stats", "--json")
    stats = json.loads(out)
    assert (stats["sessions"], stats["messages"], stats["total_tokens"]) == (2, 8, 14)
    assert stats["sessions_by_agent"] == {"ops": 1, "travel": 1}
    code, out = run("--db", db, "stats")
    assert code == 0
    assert "sessions\t2" in out and "travel\t1" in out


def test_delete(tmp_path: Path) -> None:
    db = str(populated(tmp_path))
    code, out = run("--db", db, "delete", "old")
    assert code == 0 and "deleted old" in out
    code, out = run("--db", db, "delete", "old")
    assert code == 1 and "no session with id 'old'" in out
    assert ids(run("--db", db, "list", "--json")[1]) == ["new"]


def test_prune_dry_run_then_for_real(tmp_path: Path) -> None:
    db = str(populated(tmp_path))
    code, out = run("--db", db, "prune", "--max-sessions", "1", "--dry-run")
    assert code == 0 and "would prune 1 session(s)" in out and "old" in out
    assert len(ids(run("--db", db, "list", "--json")[1])) == 2
    code, out = run("--db", db, "prune", "--older-than", "30d")
    assert "pruned 0 session(s)" in out
    code, out = run("--db", db, "prune", "--max-sessions", "1")
    assert "pruned 1 session(s)" in out
    assert ids(run("--db", db, "list", "--json")[1]) == ["new"]
    code, out = run("--db", db, "prune")
    assert code == 2 and "--max-sessions" in out
    code, out = run("--db", db, "prune", "--older-than", "soon")
    assert code == 2 and "not a duration" in out


def test_prune_from_the_cli_fires_installed_hook_plugins(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    db = str(populated(tmp_path))
    seen: list[str] = []

    class Spy:
        @hookimpl
        def session_history_pruned(self, pruned: list[Any], reason: str) -> None:
            seen.append(f"{reason}:{[s.id for s in pruned]}")

    real = plugins_module.make_plugin_manager

    def with_spy(plugins: Any = (), *, load_entrypoints: bool = True) -> Any:
        return real([*plugins, Spy()], load_entrypoints=load_entrypoints)

    monkeypatch.setattr("session_history._history.make_plugin_manager", with_spy)
    run("--db", db, "prune", "--max-sessions", "1")
    assert seen == ["max_sessions:['old']"]


def test_export_and_import_round_trip(tmp_path: Path) -> None:
    db = str(populated(tmp_path))
    dump = tmp_path / "dump.jsonl"
    code, out = run("--db", db, "export", "-o", str(dump))
    assert code == 0 and "exported 2 session(s)" in out
    assert len(dump.read_text().splitlines()) == 2
    copy = str(tmp_path / "copy.db")
    code, out = run("--db", copy, "import", str(dump))
    assert code == 0 and "2 added" in out
    code, out = run("--db", copy, "import", str(dump))
    assert code == 0 and "0 added, 0 replaced, 2 unchanged" in out
    code, original = run("--db", db, "show", "new", "--json")
    code, copied = run("--db", copy, "show", "new", "--json")
    assert original == copied
    to_stdout = CliRunner().invoke(cli, ["--db", db, "export"]).stdout  # the count goes to stderr
    assert to_stdout.splitlines() == dump.read_text().splitlines()


def test_import_reports_bad_lines_and_keeps_the_good(tmp_path: Path) -> None:
    db = str(populated(tmp_path))
    dump = tmp_path / "dump.jsonl"
    run("--db", db, "export", "-o", str(dump))
    good = dump.read_text().splitlines()
    dump.write_text("\n".join([good[0], "not json at all", good[1], '{"session_id": 3}']) + "\n")
    copy = str(tmp_path / "copy.db")
    code, out = run("--db", copy, "import", str(dump))
    assert code == 1
    assert "line 2: Invalid JSON" in out and "line 4:" in out
    assert "2 added" in out and "2 line(s) skipped" in out
    assert sorted(ids(run("--db", copy, "list", "--json")[1])) == ["new", "old"]


def test_plugins_lists_installed_plugins(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out = run("plugins", "--json")
    assert code == 0 and json.loads(out) == []

    class Audit:
        @hookimpl
        def session_history_saved(self) -> None: ...

        @hookimpl
        def session_history_deleted(self) -> None: ...

    real = plugins_module.make_plugin_manager

    def with_audit(plugins: Any = (), *, load_entrypoints: bool = True) -> Any:
        pm = real(plugins, load_entrypoints=False)
        pm.register(Audit(), name="audit")
        return pm

    monkeypatch.setattr("session_history._cli_extras.make_plugin_manager", with_audit)
    code, out = run("plugins", "--json")
    assert json.loads(out) == [
        {
            "name": "audit",
            "package": None,
            "hooks": ["session_history_deleted", "session_history_saved"],
        }
    ]


def test_a_database_from_a_newer_version_is_a_one_line_error(tmp_path: Path) -> None:
    import sqlite3

    db = populated(tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO _session_history_migrations VALUES ('m999_future', 'x')")
    code, out = run("--db", str(db), "list")
    assert code == 1 and "newer version" in out and len(out.strip().splitlines()) == 1


def test_progress_bars_show_on_a_terminal_only(tmp_path: Path) -> None:
    import os
    import pty

    db = str(populated(tmp_path))
    script = str(Path(sys.executable).with_name("session-history"))
    piped = subprocess.run(
        [script, "--db", db, "export", "-o", str(tmp_path / "a.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "exporting" not in piped.stderr and "exported 2 session(s)" in piped.stderr
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [script, "--db", db, "export", "-o", str(tmp_path / "b.jsonl")],
        stdin=follower,
        stdout=follower,
        stderr=follower,
    ) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=60)
    os.close(leader)
    shown = b"".join(chunks).decode()
    assert "exporting" in shown and "100%" in shown
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()


@pytest.mark.session_history(backends=["postgresql"])
def test_copy_to_postgresql_and_back_loses_nothing(tmp_path: Path, session_history_db: str) -> None:
    url = session_history_db
    db = str(populated(tmp_path))
    code, out = run("--db", db, "copy", url)
    assert code == 0, out
    assert "copied 2 session(s)" in out and "2 added" in out
    assert "postgres@" in out or "127.0.0.1" in out
    back = str(tmp_path / "back.db")
    code, out = run("--db", url, "copy", back)
    assert code == 0 and "2 added" in out
    for where in (url, back):
        for sid in ("new", "old"):
            original = json.loads(run("--db", db, "show", sid, "--json")[1])
            copied = json.loads(run("--db", where, "show", sid, "--json")[1])
            assert copied == original, (where, sid)
        assert ids(run("--db", where, "list", "--json")[1]) == ["new", "old"]
    code, out = run("--db", db, "copy", url)
    assert "0 added, 0 replaced, 2 unchanged" in out


def test_an_unreachable_server_is_a_clear_error_without_the_password() -> None:
    code, out = run("--db", "postgresql://agent:s3cret@127.0.0.1:1/nowhere", "list")
    assert code == 1
    assert "cannot connect to PostgreSQL at 127.0.0.1" in out
    assert "s3cret" not in out and len(out.strip().splitlines()) == 1
