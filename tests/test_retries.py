"""Cancellation and retries: an append whose outcome the caller could not see (cancelled while
in flight, a connection lost while committing) is stored whole or not at all, and the same call
again, with the same entry ids, stores nothing twice."""

from __future__ import annotations

import asyncio

from session_history import ChatMessage, Session, SessionHistory


async def test_cancelled_appends_retried_with_their_ids_are_stored_exactly_once(
    session_history: SessionHistory,
) -> None:
    await session_history.create_session(Session(session_id="s", agent_name="a", model="m"))
    batches = [
        [
            ChatMessage(role="user", content=f"q{i}", entry_id=f"call-{i}-q"),
            ChatMessage(role="assistant", content=f"a{i}", entry_id=f"call-{i}-a"),
        ]
        for i in range(60)
    ]
    tasks = [asyncio.ensure_future(session_history.append_messages("s", b)) for b in batches]
    await asyncio.sleep(0)
    for i, task in enumerate(tasks):
        if i % 2:
            task.cancel()  # some before they ran, some while in flight
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert any(isinstance(r, asyncio.CancelledError) for r in results)
    # The caller cannot know which cancelled ones were stored: it retries every one of them.
    for batch, result in zip(batches, results, strict=True):
        if isinstance(result, asyncio.CancelledError):
            assert await session_history.append_messages("s", batch) == [m.entry_id for m in batch]
    stored = [m.entry_id for m in await session_history.load_messages("s")]
    assert sorted(stored) == sorted(m.entry_id for b in batches for m in b)  # each once
    for i in range(0, len(stored), 2):  # and each batch whole, in its order
        assert stored[i].endswith("-q") and stored[i + 1] == stored[i][:-1] + "a"  # type: ignore[union-attr]
