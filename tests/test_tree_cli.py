"""The command line and the tree: ``--scope`` on every command that reads or changes sessions
by owner, and ``prune --expired``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from session_history import HistoryConfig, SyncSessionHistory

from .helpers import run_cli, session, text


def test_scope_and_expired_on_the_command_line(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    past = datetime.now(UTC) - timedelta(minutes=1)
    with SyncSessionHistory(HistoryConfig(enabled=True, db_path=db)) as history:
        history.create_session(session("a1", scope="alice", messages=[text("user", "apple")]))
        history.create_session(session("b1", scope="bob", messages=[text("user", "apple pie")]))
        history.create_session(session("gone", expires_at=past, messages=[text("user", "apple")]))

    code, out = run_cli("--db", db, "list", "--json", "--scope", "alice")
    assert code == 0 and [s["id"] for s in json.loads(out)] == ["a1"]
    code, out = run_cli("--db", db, "search", "apple", "--json", "--scope", "bob")
    assert code == 0 and [h["session_id"] for h in json.loads(out)] == ["b1"]
    code, out = run_cli("--db", db, "stats", "--json", "--scope", "bob")
    assert code == 0 and json.loads(out)["sessions"] == 1
    code, out = run_cli("--db", db, "show", "b1", "--scope", "alice")
    assert code == 1 and "no session with id 'b1'" in out
    code, out = run_cli("--db", db, "delete", "b1", "--scope", "alice")
    assert code == 1
    # An expired session is missing to every command, until prune --expired deletes it.
    code, out = run_cli("--db", db, "list", "--json")
    assert code == 0 and sorted(s["id"] for s in json.loads(out)) == ["a1", "b1"]
    code, out = run_cli("--db", db, "prune", "--expired", "--json")
    assert code == 0 and [s["id"] for s in json.loads(out)] == ["gone"]
    code, out = run_cli("--db", db, "prune", "--max-sessions", "0", "--scope", "bob", "--json")
    assert code == 0 and [s["id"] for s in json.loads(out)] == ["b1"]
    code, out = run_cli("--db", db, "list", "--json")
    assert code == 0 and [s["id"] for s in json.loads(out)] == ["a1"]


@pytest.mark.session_history(backends=["postgresql"])  # deselected without a server
def test_copy_from_sqlite_to_postgresql_keeps_the_tree(
    tmp_path: Path, session_history_config: HistoryConfig
) -> None:
    db = str(tmp_path / "h.db")
    with SyncSessionHistory(HistoryConfig(db_path=db)) as history:
        ids = history.append_messages(
            "s", [text("user", f"m{i}") for i in range(4)], create=session("s", scope="u")
        )
        history.branch_session("s", at=1)
        history.append_messages("s", [text("assistant", "other")], state={"k": [1]})
        history.fork_session("s", "f", from_entry=ids[2])
        before = {
            sid: (history.load_session(sid), history.list_branches(sid), history.get_summary(sid))
            for sid in ("s", "f")
        }
    code, out = run_cli("--db", db, "copy", str(session_history_config.url))
    assert code == 0, out
    with SyncSessionHistory(session_history_config) as copied:
        for sid, (loaded, branches, summary) in before.items():
            assert copied.load_session(sid) == loaded
            assert [(b.tip, b.length, b.current) for b in copied.list_branches(sid)] == [
                (b.tip, b.length, b.current) for b in branches
            ]
            got = copied.get_summary(sid)
            assert got is not None and summary is not None
            assert (got.head, got.revision, got.scope, got.forked_from, got.forked_at) == (
                summary.head,
                summary.revision,
                summary.scope,
                summary.forked_from,
                summary.forked_at,
            )
