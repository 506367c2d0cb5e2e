"""Revisions between processes: writers in several processes that all read one revision and then
append expecting it; exactly one wins, on both backends (the check is in the write's own
transaction, not in a process)."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from session_history import (
    ChatMessage,
    HistoryConfig,
    RevisionConflictError,
    Session,
    SessionHistory,
    SyncSessionHistory,
)


def _writer(where: str, revision: int, start: float, number: int) -> str:
    with SyncSessionHistory(HistoryConfig(db_path=where, load_entrypoint_plugins=False)) as h:
        time.sleep(max(0.0, start - time.time()))  # all at once
        try:
            h.append_messages(
                "s", [ChatMessage(role="user", content=f"w{number}")], expected_revision=revision
            )
        except RevisionConflictError:
            return "conflict"
        return "written"


async def test_writers_in_four_processes_on_one_revision_one_wins(
    session_history: SessionHistory, session_history_config: HistoryConfig
) -> None:
    config = session_history_config
    where = str(config.url) if config.url is not None else str(Path(config.db_path))
    await session_history.append_messages(
        "s",
        [ChatMessage(role="user", content="first")],
        create=Session(session_id="s", agent_name="a", model="m"),
    )
    summary = await session_history.get_summary("s")
    assert summary is not None
    context = multiprocessing.get_context("spawn")
    start = time.time() + 2.0  # after every process has started and opened the store
    with context.Pool(4) as pool:
        outcomes = pool.starmap(_writer, [(where, summary.revision, start, n) for n in range(4)])
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "written"]
    messages = await session_history.load_messages("s")
    assert len(messages) == 2
    after = await session_history.get_summary("s")
    assert after is not None and after.revision == summary.revision + 1
