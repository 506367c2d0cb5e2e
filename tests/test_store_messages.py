"""The store's behaviour through the async API, on every backend: tail reads and pops, exact
values, sessions made on their first write."""

from __future__ import annotations

import asyncio

import pytest

from session_history import (
    ChatMessage,
    InvalidQueryError,
    SessionHistory,
    SessionNotFoundError,
    Usage,
)

from .helpers import USAGE, full_message, session, text, turn

# -- tail reads and pops ---------------------------------------------------------------------------


async def test_load_messages_reads_the_whole_session_or_its_tail(
    session_history: SessionHistory,
) -> None:
    messages = [text("user", f"m{i}") for i in range(10)]
    await session_history.create_session(session("s", messages=messages))
    assert await session_history.load_messages("s") == messages
    assert await session_history.load_messages("s", last=3) == messages[-3:]
    assert await session_history.load_messages("s", last=50) == messages
    assert await session_history.load_messages("s", last=0) == []
    assert await session_history.load_messages("missing") == []
    assert await session_history.load_messages("missing", last=2) == []
    with pytest.raises(InvalidQueryError, match="last must be an integer from 0"):
        await session_history.load_messages("s", last=-1)


async def test_pop_messages_removes_the_last_ones_and_keeps_the_counts_right(
    session_history: SessionHistory,
) -> None:
    await session_history.create_session(session("s", messages=[*turn(0), *turn(1)]))
    assert await session_history.pop_messages("s") == [turn(1)[3]]
    summary = await session_history.get_summary("s")
    assert summary is not None
    assert (summary.message_count, summary.turn_count, summary.tool_call_count) == (7, 1, 2)
    assert await session_history.pop_messages("s", 3) == turn(1)[:3]
    summary = await session_history.get_summary("s")
    assert summary is not None
    assert (summary.message_count, summary.turn_count, summary.tool_call_count) == (4, 1, 1)
    # Appends go on after what is left, and nothing popped comes back.
    await session_history.append_messages("s", [text("user", "next")])
    loaded = await session_history.load_session("s")
    assert loaded is not None
    assert loaded.messages == [*turn(0), text("user", "next")]
    assert await session_history.pop_messages("s", 99) == [*turn(0), text("user", "next")]
    assert await session_history.pop_messages("s") == []
    summary = await session_history.get_summary("s")
    assert summary is not None
    assert (summary.message_count, summary.turn_count, summary.tool_call_count) == (0, 0, 0)
    assert await session_history.pop_messages("missing") == []
    with pytest.raises(InvalidQueryError, match="n must be an integer from 0"):
        await session_history.pop_messages("s", -1)


async def test_popped_messages_are_not_found_by_search(session_history: SessionHistory) -> None:
    await session_history.create_session(session("s", messages=[text("user", "keep zebra")]))
    await session_history.append_messages("s", [text("assistant", "drop zebra")])
    await session_history.pop_messages("s")
    hits = await session_history.search("zebra")
    assert [(h.session_id, h.seq) for h in hits] == [("s", 0)]


# -- fidelity: every value comes back exactly ------------------------------------------------------

NUMBERS = {
    "big_float": 2.370152117863423e16,
    "huge": 1e308,
    "negative_zero": -0.0,
    "tiny": 5e-324,
    "int": 12345678901234567890,
    "float_integral": 3.0,
}


async def test_every_json_number_comes_back_with_its_type_and_sign(
    session_history: SessionHistory,
) -> None:
    import json

    message = ChatMessage(
        role="assistant",
        content="numbers",
        tool_calls=[{"id": "c1", "name": "f", "arguments": dict(NUMBERS)}],  # type: ignore[list-item]
        tool_metadata=dict(NUMBERS),
        metadata={"numbers": dict(NUMBERS)},
    )
    # Counts in usage fit 64 bits (2**64 - 1 is refused there); metadata holds any integer.
    counts = {key: value for key, value in NUMBERS.items() if key != "int"}
    usage = Usage(input_tokens=1, output_tokens=2, total_tokens=3, cost=0.1, details=counts)
    await session_history.create_session(
        session("s", messages=[message], usage=usage, metadata={"numbers": dict(NUMBERS)})
    )
    await session_history.append_messages("s", [message])
    loaded = await session_history.load_session("s")
    assert loaded is not None
    for got in loaded.messages:
        assert got.model_dump_json(exclude={"entry_id"}) == message.model_dump_json(
            exclude={"entry_id"}
        )
        negative_zero = got.metadata["numbers"]["negative_zero"]  # type: ignore[index,call-overload]
        assert str(negative_zero) == "-0.0"
    assert json.dumps(loaded.metadata) == json.dumps({"numbers": NUMBERS})
    assert loaded.usage is not None
    assert json.dumps(loaded.usage.model_dump()) == json.dumps(usage.model_dump())
    [exported] = [json.loads(line) async for line in session_history.export_jsonl()]
    for numbers in (exported["metadata"]["numbers"], exported["messages"][0]["tool_metadata"]):
        assert [(type(v), repr(v)) for v in numbers.values()] == [
            (type(v), repr(v)) for v in NUMBERS.values()
        ]


async def test_usage_is_added_as_python_adds_it(session_history: SessionHistory) -> None:
    """Integers stay integers, floats stay floats (3.0 is not 3), nested details merge."""
    first = Usage(input_tokens=1, cost=0.1, seconds=1.5, details={"cached": 2, "ratio": 0.5})
    second = Usage(input_tokens=2, cost=0.2, seconds=1.5, details={"cached": 3, "new": 1.0})
    await session_history.create_session(session("s", usage=first))
    await session_history.append_messages("s", [text("user", "x")], usage=second)
    await session_history.append_messages(
        "s", [text("user", "y")], usage=Usage(flag=True, note=None)
    )
    summary = await session_history.get_summary("s")
    assert summary is not None and summary.usage is not None
    expected = first + second + Usage(flag=True, note=None)
    assert summary.usage.model_dump() == expected.model_dump()
    assert summary.usage.model_dump_json() == expected.model_dump_json()


async def test_the_nul_character_in_messages_is_kept(session_history: SessionHistory) -> None:
    message = ChatMessage(
        role="user", content="a\x00b", metadata={"k\x00": "v\x00"}, tool_metadata="\x00"
    )
    await session_history.create_session(session("s", messages=[message]))
    await session_history.append_messages("s", [message])
    loaded = await session_history.load_session("s")
    assert loaded is not None and loaded.messages == [message, message]
    assert [h.seq for h in await session_history.search("a")] in ([0, 1], [1, 0])


# -- a session made on its first write -------------------------------------------------------------


async def test_append_with_create_makes_the_session_on_its_first_write(
    session_history: SessionHistory,
) -> None:
    from pytest_session_history import HookRecorder

    recorder = HookRecorder()
    session_history.plugin_manager.register(recorder)
    first = session("s", agent_name="ops", model="m1", usage=USAGE, metadata={"k": 1})
    await session_history.append_messages("s", turn(0), usage=USAGE, create=first)
    await session_history.append_messages("s", turn(1), create=session("s", agent_name="other"))
    loaded = await session_history.load_session("s")
    assert loaded is not None
    assert (loaded.agent_name, loaded.model, loaded.metadata) == ("ops", "m1", {"k": 1})
    assert loaded.messages == [*turn(0), *turn(1)]
    assert loaded.usage == USAGE + USAGE
    assert recorder.operations == ["create", "append"]
    assert [len(call.new_messages) for call in recorder.saved] == [4, 4]
    with pytest.raises(InvalidQueryError, match="create is session 'x'"):
        await session_history.append_messages("s", [], create=session("x"))
    with pytest.raises(SessionNotFoundError):
        await session_history.append_messages("missing", turn(0))


async def test_append_with_create_stores_its_own_messages_first(
    session_history: SessionHistory,
) -> None:
    await session_history.append_messages("s", turn(1), create=session("s", messages=turn(0)))
    await session_history.append_messages("t", [], create=session("t", messages=turn(2)))
    for session_id, expected in (("s", [*turn(0), *turn(1)]), ("t", turn(2))):
        loaded = await session_history.load_session(session_id)
        assert loaded is not None and loaded.messages == expected
        summary = await session_history.get_summary(session_id)
        assert summary is not None and summary.message_count == len(expected)


async def test_first_writers_racing_with_create_lose_nothing(
    session_history: SessionHistory,
) -> None:
    from pytest_session_history import HookRecorder

    recorder = HookRecorder()
    session_history.plugin_manager.register(recorder)

    async def writer(w: int) -> None:
        for call in range(10):
            await session_history.append_messages(
                "new", [text("user", f"{w}:{call}")], create=session("new")
            )

    await asyncio.gather(*(writer(w) for w in range(8)))
    loaded = await session_history.load_messages("new")
    assert sorted(m.content or "" for m in loaded) == sorted(
        f"{w}:{call}" for w in range(8) for call in range(10)
    )
    assert recorder.operations.count("create") == 1


async def test_many_messages_at_once_are_stored_exactly(session_history: SessionHistory) -> None:
    """A create or an import of many messages hands them over as one JSON array (SQLite splits
    it again with json_each): each body must come back exactly as written."""
    tricky = [
        full_message(),
        ChatMessage(role="user", content='a "quoted" \\ back\\slash \x00 nul é 😀 \u2028'),
        ChatMessage(role="tool", tool_call_id="c", metadata={"numbers": dict(NUMBERS)}),
    ]
    messages = [m.model_copy(update={"id": f"m{i}"}) for i in range(4) for m in tricky]
    await session_history.create_session(session("bulk", messages=messages))
    loaded = await session_history.load_session("bulk")
    assert loaded is not None and loaded.messages == messages
    assert [m.model_dump_json(exclude={"entry_id"}) for m in loaded.messages] == [
        m.model_dump_json(exclude={"entry_id"}) for m in messages
    ]
    lines = [line async for line in session_history.export_jsonl()]
    await session_history.delete_session("bulk")
    report = await session_history.import_jsonl(lines)
    assert report.added == 1
    again = await session_history.import_jsonl(lines)
    assert again.unchanged == 1
    reloaded = await session_history.load_session("bulk")
    assert reloaded is not None and reloaded.messages == messages


async def test_load_metadata_reads_one_key_of_each_message(session_history: SessionHistory) -> None:
    messages = [
        ChatMessage(role="user", content="a", metadata={"fw": {"item": [1, 2.5, None]}}),
        ChatMessage(role="assistant", content="b"),
        ChatMessage(role="user", content="c", metadata={"fw": "text", "other": 1}),
        ChatMessage(role="tool", content="d", metadata={"fw": {"n": -0.0, "big": 1e308}}),
    ]
    await session_history.create_session(session("s", messages=messages))
    values = await session_history.load_metadata("s", "fw")
    assert values == [{"item": [1, 2.5, None]}, None, "text", {"n": -0.0, "big": 1e308}]
    assert str(values[3]["n"]) == "-0.0"  # type: ignore[index,call-overload]
    assert await session_history.load_metadata("s", "fw", last=2) == values[2:]
    assert await session_history.load_metadata("s", "absent") == [None] * 4
    assert await session_history.load_metadata("missing", "fw") == []
    assert await session_history.load_metadata("s", "fw", last=0) == []
    for bad in ("", "a.b", 'a"b', "a b"):
        with pytest.raises(InvalidQueryError, match="metadata key"):
            await session_history.load_metadata("s", bad)
