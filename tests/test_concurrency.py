"""Concurrent writers lose nothing: asyncio tasks on one store, and separate OS processes."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

import pytest

from session_history import (
    ChatMessage,
    HistoryConfig,
    SessionHistory,
    SessionNotFoundError,
    SyncSessionHistory,
)

from .helpers import session

WRITERS = 8
CALLS = 100


def batch(writer: int, call: int) -> list[ChatMessage]:
    """Three messages per call, so that interleaving inside a call would show."""
    return [ChatMessage(role="user", content=f"{writer}:{call}:{part}") for part in range(3)]


def assert_each_call_whole_and_in_order(
    messages: list[ChatMessage], writers: int, calls: int
) -> None:
    contents = [m.content or "" for m in messages]
    assert len(contents) == writers * calls * 3
    next_call = dict.fromkeys(range(writers), 0)
    for start in range(0, len(contents), 3):
        chunk = [c.split(":") for c in contents[start : start + 3]]
        writer, call = int(chunk[0][0]), int(chunk[0][1])
        assert chunk == [[str(writer), str(call), str(part)] for part in range(3)], chunk
        assert call == next_call[writer], f"writer {writer}: call {call} out of order"
        next_call[writer] += 1
    assert all(done == calls for done in next_call.values())


async def test_tasks_appending_to_one_session_lose_nothing(session_history: SessionHistory) -> None:
    await session_history.create_session(session("shared"))

    async def writer(w: int) -> None:
        for call in range(CALLS):
            await session_history.append_messages("shared", batch(w, call))

    await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    loaded = await session_history.load_session("shared")
    assert loaded is not None
    assert_each_call_whole_and_in_order(loaded.messages, WRITERS, CALLS)
    summary = await session_history.get_summary("shared")
    assert summary is not None and summary.message_count == WRITERS * CALLS * 3


async def test_pops_racing_appends_never_lose_duplicate_or_resurrect(
    session_history: SessionHistory,
) -> None:
    await session_history.create_session(session("shared"))
    popped: list[ChatMessage] = []

    async def appender(w: int) -> None:
        for call in range(40):
            await session_history.append_messages("shared", batch(w, call))

    async def popper() -> None:
        for _ in range(60):
            popped.extend(await session_history.pop_messages("shared", 2))
            await asyncio.sleep(0)

    await asyncio.gather(*(appender(w) for w in range(4)), popper(), popper())
    kept = await session_history.load_messages("shared")
    written = [m.content for w in range(4) for call in range(40) for m in batch(w, call)]
    # Every message written is either still there or was popped, exactly once.
    assert sorted(m.content or "" for m in kept + popped) == sorted(written)
    summary = await session_history.get_summary("shared")
    assert summary is not None and summary.message_count == len(kept)


async def test_tasks_mixing_creates_saves_appends_and_reads(
    session_history: SessionHistory,
) -> None:
    await session_history.create_session(session("shared"))

    async def appender(w: int) -> None:
        for call in range(20):
            await session_history.append_messages("shared", batch(w, call))

    async def creator(w: int) -> None:
        for i in range(20):
            await session_history.create_session(session(f"own-{w}-{i}", messages=batch(w, i)))
            await session_history.list_sessions(limit=5)

    await asyncio.gather(*(appender(w) for w in range(4)), *(creator(w) for w in range(4)))
    loaded = await session_history.load_session("shared")
    assert loaded is not None
    assert_each_call_whole_and_in_order(loaded.messages, 4, 20)
    assert await session_history.session_count() == 1 + 4 * 20


def _process_writer(config_json: str, writer: int, calls: int) -> None:
    config = HistoryConfig.model_validate_json(config_json)
    with SyncSessionHistory(config) as history:
        for call in range(calls):
            history.append_messages("shared", batch(writer, call))


def test_processes_appending_to_one_session_lose_nothing(
    session_history_config: HistoryConfig,
) -> None:
    with SyncSessionHistory(session_history_config) as history:
        history.create_session(session("shared"))
    writers, calls = 4, 50
    ctx = multiprocessing.get_context("spawn")
    processes = [
        ctx.Process(
            target=_process_writer, args=(session_history_config.model_dump_json(), w, calls)
        )
        for w in range(writers)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * writers
    with SyncSessionHistory(session_history_config) as history:
        loaded = history.load_session("shared")
        assert loaded is not None
        assert_each_call_whole_and_in_order(loaded.messages, writers, calls)
        summary = history.get_summary("shared")
        assert summary is not None and summary.message_count == writers * calls * 3


def _process_opener(path: str) -> None:
    config = HistoryConfig(enabled=True, db_path=Path(path), load_entrypoint_plugins=False)
    with SyncSessionHistory(config) as history:
        history.session_count()


def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    """Several processes racing to create and migrate one file: each migration runs once."""
    path = tmp_path / "fresh.db"
    ctx = multiprocessing.get_context("spawn")
    processes = [ctx.Process(target=_process_opener, args=(str(path),)) for _ in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * 4


# -- SQLite: group commit, and the blocking door's own path -------------------------------------


@pytest.mark.session_history(backends=["sqlite"])
async def test_concurrent_writes_share_commits_and_a_failing_one_fails_alone(
    session_history: SessionHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from session_history._backends.sqlite.connection import SQLiteConnection

    groups: list[int] = []
    run_group = SQLiteConnection._run_group

    def counting(self: SQLiteConnection, jobs: list[object]) -> None:
        groups.append(len(jobs))
        run_group(self, jobs)  # type: ignore[arg-type]

    monkeypatch.setattr(SQLiteConnection, "_run_group", counting)
    await session_history.create_session(session("shared"))
    calls = [
        session_history.append_messages(
            "missing" if i == 25 else "shared", [ChatMessage(role="user", content=str(i))]
        )
        for i in range(50)
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [i for i, r in enumerate(results) if isinstance(r, Exception)] == [25]
    assert isinstance(results[25], SessionNotFoundError)
    assert groups and max(groups) > 1, "no writes were grouped into one commit"
    stored = sorted(int(m.content or "") for m in await session_history.load_messages("shared"))
    assert stored == [i for i in range(50) if i != 25]
    summary = await session_history.get_summary("shared")
    assert summary is not None and summary.message_count == 49


@pytest.mark.session_history(backends=["sqlite"])
def test_the_blocking_door_reaches_sqlite_without_the_background_loop(
    session_history_sync: SyncSessionHistory,
) -> None:
    """A blocking call hands its transaction straight to the database's thread: it completes
    while the background loop is busy (it would wait for it, were it handed over there)."""
    import threading

    from session_history._background import background_loop

    busy = threading.Event()
    release = threading.Event()

    def hold() -> None:
        busy.set()
        release.wait(30)

    background_loop().call_soon_threadsafe(hold)
    assert busy.wait(10)
    try:
        session_history_sync.create_session(session("s"))
        session_history_sync.append_messages("s", [ChatMessage(role="user", content="x")])
        assert session_history_sync.get_summary("s").message_count == 1  # type: ignore[union-attr]
    finally:
        release.set()


@pytest.mark.session_history(backends=["sqlite"])
async def test_a_write_cancelled_before_it_ran_is_not_done(session_history: SessionHistory) -> None:
    await session_history.create_session(session("s"))
    writes = [
        asyncio.ensure_future(
            session_history.append_messages("s", [ChatMessage(role="user", content=str(i))])
        )
        for i in range(200)
    ]
    await asyncio.sleep(0)  # all queued on the database's thread
    for task in writes[100:]:
        task.cancel()
    results = await asyncio.gather(*writes, return_exceptions=True)
    done = [i for i, r in enumerate(results) if isinstance(r, list)]
    cancelled = [i for i, r in enumerate(results) if isinstance(r, asyncio.CancelledError)]
    assert set(done) | set(cancelled) == set(range(200))
    stored = {int(m.content or "") for m in await session_history.load_messages("s")}
    # What was acknowledged is stored; of what was cancelled, only writes already running are.
    assert set(done) <= stored and stored <= set(range(200))
    summary = await session_history.get_summary("s")
    assert summary is not None and summary.message_count == len(stored)


async def test_reads_in_flight_when_a_read_only_store_closes_complete(
    session_history_config: HistoryConfig,
) -> None:
    """Reads accepted before close() still run: they were handed over first."""
    async with SessionHistory(session_history_config) as history:
        await history.create_session(session("s", messages=[ChatMessage(role="user", content="x")]))
    reader = SessionHistory(session_history_config.model_copy(update={"read_only": True}))
    await reader.open()
    loaded, hits, _ = await asyncio.gather(
        reader.load_session("s"), reader.search("x"), reader.close()
    )
    assert loaded is not None and [m.content for m in loaded.messages] == ["x"]
    assert [h.session_id for h in hits] == ["s"]
