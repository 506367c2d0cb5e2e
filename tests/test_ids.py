"""One rule for session ids on every backend (``_ids.py``): what one stores, the other stores;
what one refuses, both refuse, with the same error, before any I/O."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from session_history import ChatMessage, HistoryConfig, InvalidQueryError, SessionHistory
from session_history._ids import MAX_ID_BYTES, check_session_id

from .helpers import session

BAD_IDS = {
    "empty": "",
    "NUL": "a\x00b",
    "lone surrogate": "id-\udcff",  # bytes decoded with surrogateescape
    "1,025 bytes": "é" * 512 + "a",
    "over the btree limit": "x" * 3000,
}

Call = Callable[[SessionHistory, str], Awaitable[object]]


def _with_id(session_id: str) -> object:
    """A session carrying ``session_id`` as given (Session's own validation is the lead's)."""
    return session("placeholder").model_copy(update={"session_id": session_id})


CALLS: dict[str, Call] = {
    "create_session": lambda h, i: h.create_session(_with_id(i)),  # type: ignore[arg-type]
    "save_session": lambda h, i: h.save_session(_with_id(i)),  # type: ignore[arg-type]
    "append_messages": lambda h, i: h.append_messages(i, [ChatMessage(role="user", content="x")]),
    "pop_messages": lambda h, i: h.pop_messages(i),
    "delete_session": lambda h, i: h.delete_session(i),
    "load_session": lambda h, i: h.load_session(i),
    "load_messages": lambda h, i: h.load_messages(i),
    "load_metadata": lambda h, i: h.load_metadata(i, "k"),
    "get_summary": lambda h, i: h.get_summary(i),
}


@pytest.mark.parametrize("method", CALLS)
@pytest.mark.parametrize("bad", BAD_IDS.values(), ids=BAD_IDS.keys())
async def test_every_method_refuses_an_id_no_backend_can_store(
    session_history: SessionHistory, method: str, bad: str
) -> None:
    with pytest.raises(InvalidQueryError, match=r"at most 1,024 UTF-8 bytes, without NUL"):
        await CALLS[method](session_history, bad)
    assert await session_history.session_count() == 0


async def test_an_id_of_exactly_the_limit_is_stored_and_read_back(
    session_history: SessionHistory,
) -> None:
    longest = "é" * (MAX_ID_BYTES // 2)  # 1,024 bytes in 512 characters
    await session_history.create_session(session(longest))
    await session_history.append_messages(longest, [ChatMessage(role="user", content="hi")])
    loaded = await session_history.load_session(longest)
    assert loaded is not None and loaded.session_id == longest and len(loaded.messages) == 1
    assert await session_history.delete_session(longest)


@pytest.mark.parametrize("bad", BAD_IDS.values(), ids=BAD_IDS.keys())
async def test_a_bad_id_is_refused_before_the_database_is_reached(bad: str) -> None:
    """Nothing listens on port 1: an error about the id, not about the connection."""
    config = HistoryConfig(enabled=True, url="postgresql://u@127.0.0.1:1/db")
    history = SessionHistory(config)
    with pytest.raises(InvalidQueryError):
        await history.load_session(bad)
    await history.close()


def test_the_error_names_the_rule_and_shows_a_long_id_short() -> None:
    with pytest.raises(InvalidQueryError) as info:
        check_session_id("x" * 1_000_000)
    message = str(info.value)
    assert len(message) < 300 and "\n" not in message
    assert "1,000,000 bytes" in message and "1,000,000 characters" in message
    with pytest.raises(InvalidQueryError, match="got int"):
        check_session_id(7)  # type: ignore[arg-type]
