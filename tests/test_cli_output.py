"""Small points of the CLI's output (issue 10, point 24): formats that cannot go together, the
Markdown header's times, the hint for an empty search, ranks of common words."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from session_history import ChatMessage, HistoryConfig, SyncSessionHistory

from .helpers import run_cli, session, turn


def make_db(tmp_path: Path) -> str:
    db = tmp_path / "h.db"
    ended = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with SyncSessionHistory(HistoryConfig(enabled=True, db_path=db)) as history:
        history.create_session(session("done", messages=turn(0), ended_at=ended))
        history.create_session(session("open", messages=turn(1)))
        # "deploy" in every message: the word every search of this log would use.
        history.create_session(
            session(
                "ops",
                messages=[
                    ChatMessage(role="user", content=f"deploy step {i} of the deploy")
                    for i in range(8)
                ],
            )
        )
    return str(db)


def test_show_refuses_two_formats_at_once(tmp_path: Path) -> None:
    code, out = run_cli("--db", make_db(tmp_path), "show", "done", "--json", "--markdown")
    assert code == 2 and "--json and --markdown are two formats; give one of them" in out


def test_the_markdown_header_says_utc_for_both_times(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    code, md = run_cli("--db", db, "show", "done", "--markdown")
    assert code == 0
    assert re.search(r"^- \*\*Started:\*\* \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", md, re.M)
    assert "- **Ended:** 2026-01-02 03:04:05 UTC\n" in md
    code, md = run_cli("--db", db, "show", "open", "--markdown")
    assert "- **Ended:** -\n" in md  # not ended: no time, so no zone


def test_an_empty_search_suggests_a_phrase_in_double_quotes(tmp_path: Path) -> None:
    code, out = run_cli("--db", make_db(tmp_path), "search", "")
    assert code == 1
    assert out.strip() == (
        "Error: search query '' has no words to search for; try a word or a \"quoted phrase\""
    )


def test_ranks_of_a_common_word_are_not_all_zero(tmp_path: Path) -> None:
    code, out = run_cli("--db", make_db(tmp_path), "search", "deploy")
    assert code == 0
    ranks = re.findall(r"\(agent, rank ([^)]+)\)", out)
    assert len(ranks) == 8 and "0.00" not in ranks
    values = [float(rank) for rank in ranks]
    assert all(value > 0 for value in values) and values == sorted(values, reverse=True)
