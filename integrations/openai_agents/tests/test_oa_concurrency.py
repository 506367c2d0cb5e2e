"""Concurrent ``pop_item`` and ``add_items`` never lose, duplicate or bring back an item; the
session works from threads each with its own event loop, under anyio, and as a ``from_path``
session that owns (and closes) its store."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any, cast

import anyio
import pytest
from agents import TResponseInputItem

from openai_agents_session_history import HistorySession
from session_history import SessionHistory, StoreClosedError

WRITERS, PER_WRITER, POPPERS, POPS = 4, 25, 3, 20


def item(writer: int, n: int) -> TResponseInputItem:
    return cast(TResponseInputItem, {"role": "user", "content": f"w{writer}-{n:03d}"})


def check_nothing_lost_duplicated_or_resurrected(
    remaining: list[TResponseInputItem], popped: list[TResponseInputItem]
) -> None:
    added = Counter(f"w{w}-{n:03d}" for w in range(WRITERS) for n in range(PER_WRITER))
    texts = [cast(dict[str, Any], i)["content"] for i in remaining + popped]
    assert Counter(texts) == added  # each added item exactly once: kept or popped
    assert popped  # the first pop at least found one of the items added beforehand
    for w in range(WRITERS):  # what a writer added stays in its order
        mine = [t for t in texts[: len(remaining)] if t.startswith(f"w{w}-")]
        assert mine == sorted(mine)


async def test_concurrent_pops_and_adds_on_one_loop(session_history: SessionHistory) -> None:
    session = HistorySession("busy", session_history)
    await session.add_items([item(w, 0) for w in range(WRITERS)])
    popped: list[TResponseInputItem] = []

    async def write(w: int) -> None:
        for n in range(1, PER_WRITER):
            await session.add_items([item(w, n)])

    async def pop() -> None:
        for _ in range(POPS):
            got = await session.pop_item()
            if got is not None:
                popped.append(got)

    await asyncio.gather(*(write(w) for w in range(WRITERS)), *(pop() for _ in range(POPPERS)))
    remaining = await session.get_items()
    check_nothing_lost_duplicated_or_resurrected(remaining, popped)
    summary = await session_history.get_summary("busy")
    assert summary is not None and summary.message_count == len(remaining)


async def test_concurrent_pops_and_adds_from_threads_with_their_own_loops(
    session_history: SessionHistory,
) -> None:
    session = HistorySession("threads", session_history)
    await session.add_items([item(w, 0) for w in range(WRITERS)])
    popped: list[TResponseInputItem] = []
    lock = threading.Lock()

    async def write(w: int) -> None:
        for n in range(1, PER_WRITER):
            await session.add_items([item(w, n)])

    async def pop() -> None:
        for _ in range(POPS):
            got = await session.pop_item()
            if got is not None:
                with lock:
                    popped.append(got)

    threads = [threading.Thread(target=asyncio.run, args=(write(w),)) for w in range(WRITERS)]
    threads += [threading.Thread(target=asyncio.run, args=(pop(),)) for _ in range(POPPERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    check_nothing_lost_duplicated_or_resurrected(await session.get_items(), popped)


def test_works_under_anyio(session_history_db: str) -> None:
    async def main() -> list[TResponseInputItem]:
        async with HistorySession.from_path("anyio", session_history_db) as session:
            await session.add_items([item(0, 0), item(0, 1)])
            assert await session.pop_item() == item(0, 1)
            return await session.get_items()

    assert anyio.run(main, backend="asyncio") == [item(0, 0)]


def test_from_path_owns_its_store_and_with_closes_it(session_history_db: str) -> None:
    with HistorySession.from_path(
        "owned", session_history_db, agent_name="script", model="m"
    ) as session:
        store = session.history
        assert store.is_open
        asyncio.run(session.add_items([item(0, 0)]))
        assert asyncio.run(session.get_items()) == [item(0, 0)]
    assert not store.is_open

    async def closed_use() -> None:
        await session.get_items()

    with pytest.raises(StoreClosedError):
        asyncio.run(closed_use())
    session.close()  # closing again does nothing


async def test_from_path_with_async_with_and_aclose(session_history_db: str) -> None:
    async with HistorySession.from_path("owned", session_history_db, model="m") as session:
        await session.add_items([item(0, 0)])
        store = session.history
    assert not store.is_open

    again = HistorySession.from_path("owned", session_history_db)
    assert await again.get_items() == [item(0, 0)]  # opened on first use
    summary = await again.history.get_summary("owned")
    assert summary is not None and (summary.agent_name, summary.model) == ("openai-agents", "m")
    await again.aclose()
    assert not again.history.is_open


async def test_close_leaves_a_store_it_did_not_open_alone(
    session: HistorySession, session_history: SessionHistory
) -> None:
    session.close()
    await session.aclose()
    with session:
        pass
    assert session_history.is_open
    await session.add_items([item(0, 0)])
