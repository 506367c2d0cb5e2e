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
from session_history import ChatMessage, SessionHistory, StoreClosedError, ToolCall

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


# -- a message written outside the SDK that stands for several items --------------------------


def _several_items(run: int) -> ChatMessage:
    """An assistant text with a tool call: two SDK items in one message (as the library or
    another integration writes it)."""
    call = ToolCall(id=f"c{run}", name="forecast", arguments={"run": run})
    return ChatMessage(role="assistant", content=f"Checking {run}.", tool_calls=[call])


def _check_one_order_or_the_other(
    before: list[TResponseInputItem],
    popped: TResponseInputItem | None,
    added: TResponseInputItem,
    after: list[TResponseInputItem],
) -> None:
    """The pop and the add happened one after the other, in either order."""
    if popped == added:  # the add, then the pop of what it added
        assert after == before
    else:  # the pop, then the add
        assert popped == before[-1]
        assert after == [*before[:-1], added]


async def test_popping_several_items_while_items_are_added_keeps_their_order(
    session_history: SessionHistory,
) -> None:
    """Such a message is removed whole and all but its last item put back: an add_items on the
    same session meanwhile must come after them, not between (it did, 4 runs of 4)."""
    session = HistorySession("mixed", session_history)
    await session.add_items([item(0, 0)])
    for run in range(4):
        await session_history.append_messages("mixed", [_several_items(run)])
        before = await session.get_items()
        added = item(1, run)
        popped, _ = await asyncio.gather(session.pop_item(), session.add_items([added]))
        _check_one_order_or_the_other(before, popped, added, await session.get_items())


async def test_popping_several_items_while_another_session_object_adds_from_a_thread(
    session_history: SessionHistory,
) -> None:
    """Two HistorySession objects on one store and id, on two event loops in two threads."""
    popper = HistorySession("mixed", session_history)
    adder = HistorySession("mixed", session_history)
    await popper.add_items([item(0, 0)])
    for run in range(6):
        await session_history.append_messages("mixed", [_several_items(run)])
        before = await popper.get_items()
        added = item(1, run)
        start = threading.Barrier(2)

        def add(added: TResponseInputItem = added, start: threading.Barrier = start) -> None:
            start.wait()
            asyncio.run(adder.add_items([added]))

        thread = threading.Thread(target=add)
        thread.start()
        await asyncio.to_thread(start.wait)
        popped = await popper.pop_item()
        thread.join()
        _check_one_order_or_the_other(before, popped, added, await popper.get_items())


async def test_clearing_while_several_items_are_popped_brings_none_back(
    session_history: SessionHistory,
) -> None:
    session = HistorySession("mixed", session_history)
    await session.add_items([item(0, 0)])
    await session_history.append_messages("mixed", [_several_items(0)])
    popped, _ = await asyncio.gather(session.pop_item(), session.clear_session())
    assert popped is not None
    assert await session.get_items() == []


async def test_a_waiter_cancelled_on_the_session_lock_leaves_it_free() -> None:
    from openai_agents_session_history._lock import SessionLock

    lock, order = SessionLock(), []

    async def take(name: str) -> None:
        async with lock:
            order.append(name)
            await asyncio.sleep(0.01)

    async with lock:
        first = asyncio.create_task(take("first"))
        cancelled = asyncio.create_task(take("cancelled"))
        last = asyncio.create_task(take("last"))
        await asyncio.sleep(0.01)
        cancelled.cancel()
    await asyncio.gather(first, last)
    assert order == ["first", "last"] and cancelled.cancelled()
    async with asyncio.timeout(1):  # free again
        async with lock:
            pass
