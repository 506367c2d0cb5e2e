"""The store's behaviour through the async API, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from session_history import (
    ChatMessage,
    HistoryConfig,
    InvalidQueryError,
    Session,
    SessionExistsError,
    SessionHistory,
    SessionNotFoundError,
    Usage,
)

from .helpers import USAGE, full_message, raw_sql, session, text, turn

# -- the reference design's own four tests -----------------------------------------------------


async def test_history_disabled(tmp_path: Path) -> None:
    # The reference gave a path alone; naming a database now enables it (issue 20), so the
    # opt-out is said.
    history = SessionHistory(HistoryConfig(enabled=False, db_path=tmp_path / "h.db"))
    assert not history.is_enabled
    assert await history.session_count() == 0


async def test_history_enabled(session_history_config: HistoryConfig) -> None:
    async with SessionHistory(session_history_config) as history:
        assert history.is_enabled


async def test_create_and_load_session(session_history: SessionHistory) -> None:
    await session_history.create_session(
        Session(
            session_id="test-123",
            agent_name="test-agent",
            model="gpt-5",
            messages=[ChatMessage(role="user", content="Hello", timestamp=datetime.now(UTC))],
            started_at=datetime.now(UTC),
        )
    )
    loaded = await session_history.load_session("test-123")
    assert loaded is not None
    assert loaded.session_id == "test-123"


async def test_list_sessions(session_history: SessionHistory) -> None:
    for i in range(3):
        await session_history.create_session(session(f"test-{i}", started_at=datetime.now(UTC)))
    assert len(await session_history.list_sessions()) == 3


# -- disabled: no I/O, the reference's answers --------------------------------------------------


async def test_disabled_history_does_no_io_and_answers_like_the_reference(tmp_path: Path) -> None:
    path = tmp_path / "never" / "h.db"
    async with SessionHistory(HistoryConfig(enabled=False, db_path=path)) as history:
        s = session("a", messages=turn(0))
        assert await history.create_session(s) is None
        assert await history.save_session(s) is None
        assert await history.append_messages("a", turn(1)) == []  # nothing stored: no entry ids
        assert await history.load_session("a") is None
        assert await history.get_summary("a") is None
        assert await history.list_sessions() == []
        assert await history.list_agent_sessions("agent") == []
        assert await history.delete_session("a") is False
        assert await history.session_count() == 0
        assert await history.enforce_max_sessions() == 0
        assert await history.prune(max_sessions=0) == []
    assert not path.parent.exists()


# -- writing and reading ------------------------------------------------------------------------


async def test_load_returns_every_field_as_stored(session_history: SessionHistory) -> None:
    original = session(
        "full",
        messages=[text("system", "be brief"), full_message(), *turn(1)],
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        ended_at=datetime(2026, 1, 1, 1, tzinfo=UTC),
        usage=Usage(input_tokens=1, output_tokens=2, total_tokens=3, cached_tokens=7),
        metadata={"title": "t", "tags": ["a", "b"], "user": {"id": 3}},
    )
    await session_history.create_session(original)
    assert await session_history.load_session("full") == original


async def test_load_missing_session_is_none(session_history: SessionHistory) -> None:
    assert await session_history.load_session("nope") is None
    assert await session_history.get_summary("nope") is None


async def test_create_existing_session_is_an_error_and_keeps_the_stored_one(
    session_history: SessionHistory,
) -> None:
    await session_history.create_session(session("a", messages=turn(0)))
    with pytest.raises(SessionExistsError, match="save_session") as info:
        await session_history.create_session(session("a", messages=[]))
    assert info.value.session_id == "a"
    loaded = await session_history.load_session("a")
    assert loaded is not None and len(loaded.messages) == 4


async def test_started_at_defaults_to_the_first_write(session_history: SessionHistory) -> None:
    before = datetime.now(UTC)
    await session_history.create_session(session("a"))
    loaded = await session_history.load_session("a")
    assert loaded is not None and loaded.started_at is not None
    assert before <= loaded.started_at <= datetime.now(UTC)


async def test_append_adds_after_stored_messages_in_order(session_history: SessionHistory) -> None:
    await session_history.create_session(session("a", messages=turn(0)))
    await session_history.append_messages("a", turn(1))
    await session_history.append_messages("a", [text("user", "last")])
    loaded = await session_history.load_session("a")
    assert loaded is not None
    assert loaded.messages == [*turn(0), *turn(1), text("user", "last")]


async def test_append_to_missing_session_is_a_clear_error(session_history: SessionHistory) -> None:
    with pytest.raises(SessionNotFoundError, match="'ghost'") as info:
        await session_history.append_messages("ghost", [text("user", "hi")])
    assert info.value.session_id == "ghost"
    assert await session_history.session_count() == 0


async def test_append_updates_summary_counts_and_usage(session_history: SessionHistory) -> None:
    await session_history.create_session(session("a", usage=USAGE))
    await session_history.append_messages("a", turn(0), usage=Usage(input_tokens=1, total_tokens=1))
    await session_history.append_messages("a", turn(1))
    summary = await session_history.get_summary("a")
    assert summary is not None
    assert (summary.message_count, summary.turn_count, summary.tool_call_count) == (8, 2, 2)
    assert summary.usage == Usage(input_tokens=11, output_tokens=5, total_tokens=16)


async def test_turns_and_tool_calls_are_counted_as_the_reference_does(
    session_history: SessionHistory,
) -> None:
    messages = [
        text("assistant", ""),  # content present (empty): a turn
        ChatMessage(role="assistant"),  # no content: not a turn
        ChatMessage(
            role="assistant",
            content="two calls",
            tool_calls=[
                {"id": "1", "name": "a", "arguments": {}},
                {"id": "2", "name": "b", "arguments": {}},
            ],
        ),
        text("user", "not a turn"),
    ]
    await session_history.create_session(session("a", messages=messages))
    summary = await session_history.get_summary("a")
    assert summary is not None
    assert (summary.turn_count, summary.tool_call_count, summary.message_count) == (2, 2, 4)


async def test_updated_at_moves_forward_on_every_write(session_history: SessionHistory) -> None:
    await session_history.create_session(session("a"))
    first = await session_history.get_summary("a")
    await session_history.append_messages("a", [text("user", "x")])
    second = await session_history.get_summary("a")
    assert first is not None and second is not None
    assert second.updated_at > first.updated_at


async def test_save_inserts_then_replaces(session_history: SessionHistory) -> None:
    await session_history.save_session(session("a", messages=turn(0)))
    replacement = session(
        "a", messages=[text("user", "new start")], agent_name="other", model="m2", metadata={"k": 1}
    )
    await session_history.save_session(replacement)
    loaded = await session_history.load_session("a")
    assert loaded is not None
    assert loaded.messages == [text("user", "new start")]
    assert (loaded.agent_name, loaded.model, loaded.metadata) == ("other", "m2", {"k": 1})
    summary = await session_history.get_summary("a")
    assert summary is not None and summary.message_count == 1


async def test_save_of_a_longer_session_writes_only_the_new_messages(
    session_history: SessionHistory,
) -> None:
    from session_history import hookimpl

    written: list[int] = []

    class Spy:
        @hookimpl
        def session_history_saved(self, new_messages: list[ChatMessage]) -> None:
            written.append(len(new_messages))

    session_history.plugin_manager.register(Spy())
    s = session("a", messages=turn(0))
    await session_history.save_session(s)
    s.messages.extend(turn(1))
    s.ended_at = datetime.now(UTC)
    await session_history.save_session(s)
    assert written == [4, 4]
    loaded = await session_history.load_session("a")
    assert loaded is not None
    assert (loaded.messages, loaded.ended_at) == (s.messages, s.ended_at)
    # The prefix really was kept, not rewritten: its rows keep their identity.
    ids = await _message_row_ids(session_history, "a")
    s.messages.append(text("user", "more"))
    await session_history.save_session(s)
    assert (await _message_row_ids(session_history, "a"))[:8] == ids


async def test_save_with_an_edited_prefix_replaces_everything(
    session_history: SessionHistory,
) -> None:
    s = session("a", messages=turn(0))
    await session_history.save_session(s)
    edited = session("a", messages=[text("user", "edited"), *turn(0)[1:], *turn(1)])
    await session_history.save_session(edited)
    loaded = await session_history.load_session("a")
    assert loaded is not None and loaded.messages == edited.messages


async def test_save_of_a_shorter_session_truncates(session_history: SessionHistory) -> None:
    await session_history.save_session(session("a", messages=[*turn(0), *turn(1)]))
    await session_history.save_session(session("a", messages=turn(0)[:2]))
    loaded = await session_history.load_session("a")
    assert loaded is not None and loaded.messages == turn(0)[:2]


async def _message_row_ids(session_history: SessionHistory, session_id: str) -> list[int]:
    rows = await raw_sql(
        session_history,
        "SELECT m.id FROM messages m JOIN sessions s ON s.pk = m.session_pk "
        "WHERE s.session_id = ? ORDER BY seq",
        "SELECT m.id FROM {s}.messages m JOIN {s}.sessions s ON s.pk = m.session_pk "
        "WHERE s.session_id = $1 ORDER BY seq",
        session_id,
    )
    return [int(r[0]) for r in rows]  # type: ignore[call-overload]


async def test_delete_session(session_history: SessionHistory) -> None:
    await session_history.create_session(session("a", messages=turn(0)))
    await session_history.create_session(session("b"))
    assert await session_history.delete_session("a") is True
    assert await session_history.delete_session("a") is False
    assert await session_history.load_session("a") is None
    assert [s.id for s in await session_history.list_sessions()] == ["b"]
    # A new session with the same id starts empty: no orphan messages came back.
    await session_history.create_session(session("a"))
    loaded = await session_history.load_session("a")
    assert loaded is not None and loaded.messages == []


async def test_any_string_is_a_session_id(session_history: SessionHistory) -> None:
    for sid in ["with space", "ünïcødé-🌍", "quote'\"; DROP TABLE sessions; --", "x" * 500]:
        await session_history.create_session(session(sid, messages=[text("user", sid)]))
        loaded = await session_history.load_session(sid)
        assert loaded is not None and loaded.messages[0].content == sid
    assert await session_history.session_count() == 4


# -- listing ------------------------------------------------------------------------------------


async def _three(session_history: SessionHistory) -> None:
    await session_history.create_session(session("old", agent_name="a1", model="m1"))
    await session_history.create_session(session("mid", agent_name="a2", model="m1"))
    await session_history.create_session(session("new", agent_name="a1", model="m2"))


async def test_list_is_newest_first_and_follows_updates(session_history: SessionHistory) -> None:
    await _three(session_history)
    assert [s.id for s in await session_history.list_sessions()] == ["new", "mid", "old"]
    await session_history.append_messages("old", [text("user", "bump")])
    assert [s.id for s in await session_history.list_sessions()] == ["old", "new", "mid"]


async def test_list_filters(session_history: SessionHistory) -> None:
    await _three(session_history)
    assert [s.id for s in await session_history.list_agent_sessions("a1")] == ["new", "old"]
    assert [s.id for s in await session_history.list_sessions(model="m1")] == ["mid", "old"]
    assert [s.id for s in await session_history.list_sessions(agent_name="a1", model="m1")] == [
        "old"
    ]
    mid = await session_history.get_summary("mid")
    assert mid is not None
    since = await session_history.list_sessions(updated_since=mid.updated_at)
    assert [s.id for s in since] == ["new", "mid"]
    until = await session_history.list_sessions(updated_until=mid.updated_at)
    assert [s.id for s in until] == ["old"]
    assert await session_history.list_agent_sessions("nobody") == []


async def test_list_pages_by_limit_offset_and_cursor(session_history: SessionHistory) -> None:
    for i in range(7):
        await session_history.create_session(session(f"s{i}"))
    everything = [s.id for s in await session_history.list_sessions()]
    assert [s.id for s in await session_history.list_sessions(limit=3)] == everything[:3]
    assert [s.id for s in await session_history.list_sessions(limit=3, offset=3)] == everything[3:6]
    pages: list[str] = []
    page = await session_history.list_sessions(limit=3)
    while page:
        pages.extend(s.id for s in page)
        page = await session_history.list_sessions(limit=3, after=page[-1])
    assert pages == everything


async def test_list_order_is_stable_for_equal_update_times(session_history: SessionHistory) -> None:
    """Sessions imported with one updated_at still list in one fixed order, page after page."""
    stamp = datetime(2026, 5, 5, tzinfo=UTC)
    for i in range(6):
        await session_history.create_session(session(f"t{i}"))
    await raw_sql(
        session_history,
        "UPDATE sessions SET updated_at = '2026-05-05T00:00:00.000000Z'",
        "UPDATE {s}.sessions SET updated_at = '2026-05-05T00:00:00Z'",
    )
    listed = await session_history.list_sessions()
    assert [s.id for s in listed] == ["t5", "t4", "t3", "t2", "t1", "t0"]
    assert all(s.updated_at == stamp for s in listed)
    first = await session_history.list_sessions(limit=2)
    second = await session_history.list_sessions(limit=2, after=first[-1])
    assert [s.id for s in first + second] == ["t5", "t4", "t3", "t2"]


async def test_list_rejects_negative_limits(session_history: SessionHistory) -> None:
    with pytest.raises(InvalidQueryError):
        await session_history.list_sessions(limit=-1)


async def test_summary_carries_usage_and_metadata(session_history: SessionHistory) -> None:
    await session_history.create_session(session("a", usage=USAGE, metadata={"title": "hello"}))
    (summary,) = await session_history.list_sessions()
    assert summary.usage == USAGE
    assert summary.metadata == {"title": "hello"}
    assert summary.started_at.tzinfo is not None and summary.updated_at.utcoffset() == timedelta(0)


# -- time --------------------------------------------------------------------------------------


async def test_times_in_any_offset_come_back_as_the_same_instant_in_utc(
    session_history: SessionHistory,
) -> None:
    tokyo = timezone(timedelta(hours=9))
    started = datetime(2026, 3, 1, 9, 0, tzinfo=tokyo)  # 00:00 UTC
    await session_history.create_session(session("a", started_at=started))
    loaded = await session_history.load_session("a")
    assert loaded is not None and loaded.started_at == started
    assert loaded.started_at.utcoffset() == timedelta(0)
    assert loaded.started_at.hour == 0


async def test_naive_times_are_taken_as_utc(session_history: SessionHistory) -> None:
    await session_history.create_session(session("a", started_at=datetime(2026, 3, 1, 12, 0)))
    loaded = await session_history.load_session("a")
    assert loaded is not None
    assert loaded.started_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_updated_since_filter_is_right_whatever_the_callers_offset(
    session_history: SessionHistory,
) -> None:
    await session_history.create_session(session("a"))
    summary = await session_history.get_summary("a")
    assert summary is not None
    in_new_york = summary.updated_at.astimezone(timezone(timedelta(hours=-5)))
    assert [s.id for s in await session_history.list_sessions(updated_since=in_new_york)] == ["a"]
    later = in_new_york + timedelta(microseconds=1)
    assert await session_history.list_sessions(updated_since=later) == []


# -- pruning ------------------------------------------------------------------------------------


async def test_enforce_max_sessions_keeps_the_newest(session_history_config: HistoryConfig) -> None:
    async with SessionHistory(
        session_history_config.model_copy(update={"max_sessions": 2})
    ) as history:
        for i in range(5):
            await history.create_session(session(f"s{i}", messages=turn(i)))
        await history.append_messages("s0", [text("user", "keep me")])
        assert await history.enforce_max_sessions() == 3
        assert [s.id for s in await history.list_sessions()] == ["s0", "s4"]
        assert await history.enforce_max_sessions() == 0
        assert await history.load_session("s1") is None


async def test_enforce_without_limits_prunes_nothing(session_history: SessionHistory) -> None:
    await session_history.create_session(session("a"))
    assert await session_history.enforce_max_sessions() == 0
    assert await session_history.session_count() == 1


async def test_max_age_drops_sessions_not_updated_recently(
    session_history_config: HistoryConfig,
) -> None:
    async with SessionHistory(
        session_history_config.model_copy(update={"max_age": timedelta(days=1)})
    ) as history:
        await history.create_session(session("fresh"))
        await history.create_session(session("stale"))
        await raw_sql(
            history,
            "UPDATE sessions SET updated_at = '2020-01-01T00:00:00.000000Z' "
            "WHERE session_id = 'stale'",
            "UPDATE {s}.sessions SET updated_at = '2020-01-01T00:00:00Z' "
            "WHERE session_id = 'stale'",
        )
        assert await history.enforce_max_sessions() == 1
        assert [s.id for s in await history.list_sessions()] == ["fresh"]


async def test_prune_dry_run_removes_nothing(session_history: SessionHistory) -> None:
    for i in range(4):
        await session_history.create_session(session(f"s{i}"))
    would = await session_history.prune(max_sessions=1, dry_run=True)
    assert sorted(s.id for s in would) == ["s0", "s1", "s2"]
    assert await session_history.session_count() == 4
    assert [s.id for s in await session_history.prune(max_sessions=1)] == ["s2", "s1", "s0"]
    assert await session_history.session_count() == 1


async def test_prune_to_zero_removes_all(session_history: SessionHistory) -> None:
    await session_history.create_session(session("a", messages=turn(0)))
    assert len(await session_history.prune(max_sessions=0)) == 1
    assert await session_history.session_count() == 0
