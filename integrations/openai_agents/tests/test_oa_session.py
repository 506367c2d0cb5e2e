"""The behaviours of the SDK's own session tests (openai-agents-python, tests/memory/
test_session.py), ported to ``HistorySession`` and run on SQLite and PostgreSQL, and the
protocol's corners that ours defines (negative limits, clearing, first writes)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, cast

import pytest
from agents import TResponseInputItem
from agents.memory import Session as SessionProtocol
from agents.memory import SessionSettings

from openai_agents_session_history import HistorySession
from session_history import (
    ChatMessage,
    InvalidQueryError,
    SessionHistory,
    SyncSessionHistory,
    hookimpl,
)


def user(text: str) -> TResponseInputItem:
    return cast(TResponseInputItem, {"role": "user", "content": text})


def assistant(text: str) -> TResponseInputItem:
    return cast(TResponseInputItem, {"role": "assistant", "content": text})


def contents(items: list[TResponseInputItem]) -> list[Any]:
    return [cast(dict[str, Any], item).get("content") for item in items]


def test_history_session_is_an_sdk_session(session: HistorySession) -> None:
    assert isinstance(session, SessionProtocol)


async def test_add_get_and_clear(session: HistorySession) -> None:
    items = [user("Hello"), assistant("Hi there!")]
    await session.add_items(items)
    assert await session.get_items() == items

    await session.clear_session()
    assert await session.get_items() == []


async def test_pop_item_returns_the_items_newest_first_then_none(session: HistorySession) -> None:
    assert await session.pop_item() is None
    items = [user("Hello"), assistant("Hi there!"), user("How are you?")]
    await session.add_items(items)

    assert await session.pop_item() == items[2]
    assert await session.get_items() == items[:2]
    assert await session.pop_item() == items[1]
    assert await session.pop_item() == items[0]
    assert await session.pop_item() is None
    assert await session.get_items() == []


async def test_pop_item_only_affects_its_own_session(session_history: SessionHistory) -> None:
    one, two = (
        HistorySession("session_1", session_history),
        HistorySession("session_2", session_history),
    )
    await one.add_items([user("Session 1 message")])
    await two.add_items([user("Session 2 message 1"), user("Session 2 message 2")])

    assert await two.pop_item() == user("Session 2 message 2")
    assert await one.get_items() == [user("Session 1 message")]
    assert await two.get_items() == [user("Session 2 message 1")]


async def test_get_items_with_limit_returns_the_last_items_in_order(
    session: HistorySession,
) -> None:
    items = [
        user("Message 1"),
        assistant("Response 1"),
        user("Message 2"),
        assistant("Response 2"),
        user("Message 3"),
        assistant("Response 3"),
    ]
    await session.add_items(items)

    assert await session.get_items() == items
    assert await session.get_items(limit=2) == items[-2:]
    assert await session.get_items(limit=4) == items[-4:]
    assert await session.get_items(limit=10) == items
    assert await session.get_items(limit=0) == []


async def test_a_negative_limit_is_a_clear_error(session: HistorySession) -> None:
    await session.add_items([user("kept")])
    with pytest.raises(InvalidQueryError, match="limit must be 0 or more"):
        await session.get_items(limit=-1)
    assert await session.get_items() == [user("kept")]


async def test_get_items_on_a_missing_session_is_empty(session: HistorySession) -> None:
    assert await session.get_items() == []
    assert await session.get_items(limit=3) == []


def test_session_settings_default_to_no_limit(session_history: SessionHistory) -> None:
    session = HistorySession("s", session_history)
    assert isinstance(session.session_settings, SessionSettings)
    assert session.session_settings.limit is None


def test_session_settings_from_the_constructor(session_history: SessionHistory) -> None:
    session = HistorySession("s", session_history, session_settings=SessionSettings(limit=5))
    assert session.session_settings is not None and session.session_settings.limit == 5


def test_session_settings_as_a_dictionary_are_normalised(session_history: SessionHistory) -> None:
    session = HistorySession("s", session_history, session_settings={"limit": 0})
    assert isinstance(session.session_settings, SessionSettings)
    assert session.session_settings.limit == 0
    assert session.session_settings.resolve({"limit": 4}).limit == 4


def test_unknown_session_settings_are_refused(session_history: SessionHistory) -> None:
    with pytest.raises(TypeError, match="Unknown session settings: limitt"):
        HistorySession("s", session_history, session_settings={"limitt": 1})


async def test_get_items_uses_the_settings_limit(session_history: SessionHistory) -> None:
    session = HistorySession("s", session_history, session_settings=SessionSettings(limit=3))
    await session.add_items([user(f"Message {i}") for i in range(5)])
    assert contents(await session.get_items()) == ["Message 2", "Message 3", "Message 4"]


async def test_an_explicit_limit_overrides_the_settings(session_history: SessionHistory) -> None:
    session = HistorySession("s", session_history, session_settings=SessionSettings(limit=5))
    await session.add_items([user(f"Message {i}") for i in range(10)])
    assert contents(await session.get_items(limit=2)) == ["Message 8", "Message 9"]


async def test_unicode_content_round_trips(session: HistorySession) -> None:
    items = [user("こんにちは"), assistant("😊👍"), user("Привет")]
    await session.add_items(items)
    assert await session.get_items() == items


async def test_sql_looking_text_is_stored_as_text(session: HistorySession) -> None:
    items = [
        user("O'Reilly"),
        assistant("DROP TABLE sessions;"),
        user('"SELECT * FROM users WHERE name = "admin";"'),
        assistant("Robert'); DROP TABLE students;--"),
        user("Normal message"),
    ]
    await session.add_items(items)
    assert await session.get_items() == items


async def test_threads_each_with_their_own_event_loop_add_to_one_session(
    session: HistorySession,
) -> None:
    items = [user(f"Message {i}") for i in range(10)]

    def add_item(item: TResponseInputItem) -> None:
        # A new loop per thread, as the SDK's test does; asyncio.run closes it afterwards.
        asyncio.run(session.add_items([item]))

    with concurrent.futures.ThreadPoolExecutor(max_workers=5) as executor:
        list(executor.map(add_item, items))

    assert sorted(contents(await session.get_items())) == sorted(contents(items))


async def test_nothing_is_written_for_no_items(session_history: SessionHistory) -> None:
    session = HistorySession("never", session_history)
    await session.add_items([])
    assert await session_history.get_summary("never") is None


async def test_the_session_is_created_on_first_write_with_agent_and_model(
    session_history: SessionHistory,
) -> None:
    session = HistorySession("conv-9", session_history, agent_name="support", model="gpt-5")
    assert await session_history.get_summary("conv-9") is None
    await session.add_items([user("hi")])
    await session.add_items([assistant("hello")])
    summary = await session_history.get_summary("conv-9")
    assert summary is not None
    assert (summary.agent_name, summary.model, summary.message_count) == ("support", "gpt-5", 2)


async def test_two_sessions_writing_first_at_once_both_keep_their_items(
    session_history: SessionHistory,
) -> None:
    writers = [HistorySession("race", session_history) for _ in range(4)]
    await asyncio.gather(*(w.add_items([user(f"w{i}")]) for i, w in enumerate(writers)))
    assert sorted(contents(await writers[0].get_items())) == ["w0", "w1", "w2", "w3"]


async def test_an_item_that_is_not_json_is_refused_and_nothing_is_stored(
    session: HistorySession,
) -> None:
    await session.add_items([user("kept")])
    bad = cast(TResponseInputItem, {"role": "user", "content": object()})
    with pytest.raises(InvalidQueryError, match="JSON values"):
        await session.add_items([user("not kept"), bad])
    with pytest.raises(InvalidQueryError, match="must be a dict"):
        await session.add_items([cast(TResponseInputItem, "hello")])
    assert await session.get_items() == [user("kept")]


def test_an_empty_session_id_is_refused(session_history: SessionHistory) -> None:
    with pytest.raises(InvalidQueryError, match="non-empty string"):
        HistorySession("", session_history)


async def test_clear_keeps_the_session_row_and_tells_hooks(session_history: SessionHistory) -> None:
    class Recorder:
        @hookimpl
        def session_history_popped(self, popped: list[Any]) -> None:
            calls.append([m.content for m in popped])

    calls: list[list[str | None]] = []
    session_history.plugin_manager.register(Recorder())
    session = HistorySession("conv-c", session_history, agent_name="support")
    await session.add_items([user("one"), assistant("two")])
    await session.clear_session()

    assert calls == [["one", "two"]]
    summary = await session_history.get_summary("conv-c")
    assert summary is not None and summary.message_count == 0 and summary.agent_name == "support"
    await session.clear_session()  # an empty session: nothing to tell
    assert calls == [["one", "two"]]


async def test_pop_item_tells_hooks_and_keeps_the_counts(session_history: SessionHistory) -> None:
    seen: list[str | None] = []

    class Recorder:
        @hookimpl
        def session_history_popped(self, popped: list[Any]) -> None:
            seen.extend(m.content for m in popped)

    session_history.plugin_manager.register(Recorder())
    session = HistorySession("conv-p", session_history)
    await session.add_items([user("q"), assistant("a")])
    await session.pop_item()
    summary = await session_history.get_summary("conv-p")
    assert seen == ["a"]
    assert summary is not None and (summary.message_count, summary.turn_count) == (1, 0)


async def test_a_sync_history_can_be_given(session: HistorySession) -> None:
    with SyncSessionHistory.wrap(session.history) as sync:
        other = HistorySession("conv-1", sync)
        await session.add_items([user("from the async door")])
        assert await other.get_items() == [user("from the async door")]
        assert other.history is session.history


async def test_items_come_back_from_another_store_object(
    session: HistorySession, session_history: SessionHistory
) -> None:
    await session.add_items([user("persisted")])
    async with SessionHistory(session_history.config) as again:
        assert await HistorySession("conv-1", again).get_items() == [user("persisted")]


async def test_pop_and_clear_of_a_missing_session_do_nothing(
    session_history: SessionHistory,
) -> None:
    session = HistorySession("missing", session_history)
    assert await session.pop_item() is None
    await session.clear_session()
    assert await session_history.get_summary("missing") is None


async def test_a_disabled_history_stores_nothing() -> None:
    async with SessionHistory() as disabled:  # HistoryConfig() is disabled
        session = HistorySession("s", disabled)
        await session.add_items([user("dropped")])
        assert await session.get_items() == []
        assert await session.get_items(limit=3) == []
        assert await session.pop_item() is None
        await session.clear_session()


async def test_items_the_sdk_stored_are_read_from_their_metadata_alone(
    session: HistorySession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """get_items reads the stored items (no ChatMessage built) unless a message of the window
    was written outside the SDK."""
    await session.add_items([user(f"m{i}") for i in range(5)])

    async def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("get_items read the whole messages")

    with monkeypatch.context() as patched:
        patched.setattr(session.history, "load_messages", refuse)
        assert [i["content"] for i in await session.get_items(2)] == ["m3", "m4"]  # type: ignore[typeddict-item]
        assert len(await session.get_items()) == 5
    await session.history.append_messages("conv-1", [ChatMessage(role="user", content="x")])
    assert [i["content"] for i in await session.get_items(2)] == ["m4", "x"]  # type: ignore[typeddict-item]
