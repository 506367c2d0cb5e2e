"""A database made by the previous release (0.1.0, before entries had ids) upgrades in place:
every session becomes a one-branch tree with ids assigned, and nothing is lost.

``fixtures/release-0.1.0.db`` was written by session-history 0.1.0 itself: a session with tool
calls, exact numbers (``1e308``, ``-0.0``), usage and metadata; an empty one; one of 50
messages from which 2 were popped.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from session_history import ChatMessage, HistoryConfig, SessionHistory

FIXTURE = Path(__file__).parent / "fixtures" / "release-0.1.0.db"


async def test_a_database_of_the_previous_release_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    shutil.copy(FIXTURE, path)
    with sqlite3.connect(path) as conn:
        before = conn.execute("SELECT body FROM messages ORDER BY session_pk, seq").fetchall()
    async with SessionHistory(HistoryConfig(enabled=True, db_path=path)) as history:
        plain = await history.load_session("plain")
        assert plain is not None
        assert [m.content for m in plain.messages] == ["hello café", "hi", "2"]
        call = plain.messages[1].tool_calls
        assert call is not None and repr(call[0].arguments) == "{'a': 1e+308, 'b': -0.0}"
        assert plain.usage is not None and plain.usage.model_dump()["cached"] == 1
        assert plain.metadata == {"title": "first"}
        ids = [m.entry_id for m in plain.messages]
        assert all(ids) and len(set(ids)) == 3
        summary = await history.get_summary("plain")
        assert summary is not None
        assert (summary.message_count, summary.tool_call_count, summary.head) == (3, 1, ids[-1])
        assert summary.revision == 1
        assert (await history.get_summary("empty")).message_count == 0  # type: ignore[union-attr]
        long = await history.load_messages("long")
        assert [m.content for m in long] == [f"message {i}" for i in range(48)]
        assert [m.content for m in await history.load_messages("long", last=2)] == [
            "message 46",
            "message 47",
        ]
        # The search index of the old file still answers, and the tree works on old sessions.
        assert [h.session_id for h in await history.search("cafe")] == ["plain"]
        await history.branch_session("long", at=10)
        await history.append_messages("long", [ChatMessage(role="user", content="new branch")])
        assert len(await history.list_branches("long")) == 2
        await history.fork_session("plain", "plain-fork", at=1)
        assert len(await history.load_messages("plain-fork")) == 1
    with sqlite3.connect(path) as conn:
        names = {n for (n,) in conn.execute("SELECT name FROM _session_history_migrations")}
        assert "m005_tree" in names
        # Each old body is kept as it was, with its entry id added as its last field.
        after = conn.execute(
            "SELECT body, entry_id FROM messages WHERE session_pk IN "
            "(SELECT pk FROM sessions WHERE session_id IN ('plain', 'empty')) ORDER BY seq"
        ).fetchall()
        assert [body for body, _ in after] == [
            old[:-1] + f',"entry_id":"{entry}"}}'
            for (old,), (_, entry) in zip(before, after, strict=False)
        ]
