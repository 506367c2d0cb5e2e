"""A store's life through the async API, on every backend: opening, closing, reopening."""

from __future__ import annotations

import asyncio
import gc

import pytest

from session_history import (
    HistoryConfig,
    InvalidQueryError,
    SessionHistory,
    StoreClosedError,
)

from .helpers import session, text, turn

# -- lifecycle ----------------------------------------------------------------------------------


async def test_a_history_opens_on_first_use_and_not_after_close(
    session_history_config: HistoryConfig,
) -> None:
    history = SessionHistory(session_history_config)
    assert await history.session_count() == 0  # opened here, as the reference's new() would
    await history.create_session(session("a"))
    await history.close()
    await history.close()  # twice is fine
    with pytest.raises(StoreClosedError, match="closed"):
        await history.load_session("a")
    async with SessionHistory(session_history_config) as again:
        assert await again.session_count() == 1


async def test_callers_racing_to_open_share_one_opening(
    session_history_config: HistoryConfig,
) -> None:
    history = SessionHistory(session_history_config)
    counts = await asyncio.gather(*(history.session_count() for _ in range(8)))
    assert counts == [0] * 8
    await history.close()


async def test_a_close_while_opening_leaves_nothing_open(
    session_history_config: HistoryConfig,
) -> None:
    history = SessionHistory(session_history_config)
    opening = asyncio.ensure_future(history.open())
    await asyncio.sleep(0)  # the opener now waits for the database
    await history.close()
    with pytest.raises(StoreClosedError, match="closed"):
        await opening
    assert not history.is_open
    with pytest.raises(StoreClosedError, match="closed"):
        await history.session_count()
    # Nothing left open: an open connection would warn (an error here) when collected.
    del history, opening
    gc.collect()


async def test_reopening_keeps_everything(session_history_config: HistoryConfig) -> None:
    async with SessionHistory(session_history_config) as history:
        await history.create_session(session("a", messages=turn(0)))
    async with SessionHistory(session_history_config) as history:
        loaded = await history.load_session("a")
        assert loaded is not None and loaded.messages == turn(0)


async def test_an_unclosed_history_warns(session_history_config: HistoryConfig) -> None:
    import warnings

    history = SessionHistory(session_history_config)
    await history.open()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del history
        gc.collect()
    # The driver's finaliser stops its worker thread, which then reports to this loop: let it,
    # before the test's loop closes under it.
    await asyncio.sleep(0.2)
    assert any(
        issubclass(w.category, ResourceWarning) and "SessionHistory" in str(w.message)
        for w in caught
    )


async def test_text_that_has_no_utf8_form_is_a_clear_error_and_nothing_is_written(
    session_history: SessionHistory,
) -> None:
    await session_history.create_session(session("a"))
    with pytest.raises(InvalidQueryError, match="cannot be stored"):
        await session_history.append_messages("a", [text("user", "broken \ud800 surrogate")])
    summary = await session_history.get_summary("a")
    assert summary is not None and summary.message_count == 0
