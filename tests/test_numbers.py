"""Numbers a store keeps exactly: token counts that fit 64 bits, no NaN or Infinity (which JSON
cannot hold: pydantic writes them as null). Refused when a model is built, refused at the store's
door when a model skipped validation, and ``stats`` still answers on a database an older version
filled with anything."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from session_history import (
    ChatMessage,
    InvalidQueryError,
    Session,
    SessionHistory,
    SyncSessionHistory,
    ToolCall,
    Usage,
)

from .helpers import raw_sql, session, text

MAX = 2**63 - 1
NON_FINITE = [math.nan, math.inf, -math.inf]
OUT_OF_RANGE = [-1, 2**63, 10**30]


@pytest.mark.parametrize(
    "fields",
    [
        *({"input_tokens": n} for n in OUT_OF_RANGE),
        *({"output_tokens": n} for n in OUT_OF_RANGE),
        {"total_tokens": -5},
        {"cached_tokens": 2**63},
        {"details": {"reasoning_tokens": -1}},
        {"details": [{"n": 2**64}]},
        *({"cost": x} for x in NON_FINITE),
        {"details": {"ratio": math.nan}},
    ],
)
def test_usage_out_of_range_is_refused_when_built(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="usage"):
        Usage(**fields)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Session(session_id="s", agent_name="a", model="m", usage=fields)  # type: ignore[arg-type]


def test_usage_at_the_bounds_is_taken() -> None:
    usage = Usage(input_tokens=0, output_tokens=MAX, details={"cached": MAX}, cost=0.5, ok=True)
    assert usage.output_tokens == MAX


@pytest.mark.parametrize("value", NON_FINITE)
def test_non_finite_numbers_in_messages_and_sessions_are_refused_when_built(value: float) -> None:
    for fields in (
        {"metadata": {"x": value}},
        {"metadata": {"deep": [{"x": value}]}},
        {"tool_metadata": value},
        {"raw_content_blocks": [{"score": value}]},
        {"tool_calls": [{"id": "c", "name": "f", "arguments": {"x": value}}]},
    ):
        with pytest.raises(ValidationError, match="finite"):
            ChatMessage(role="assistant", **fields)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="finite"):
        Session(session_id="s", agent_name="a", model="m", metadata={"x": value})


def _unvalidated_messages(value: float) -> list[ChatMessage]:
    """Messages holding ``value`` that validation never saw: built with ``model_construct``,
    or changed after they were built."""
    changed = ChatMessage(role="user", content="x", metadata={"deep": {"x": 1.0}})
    changed.metadata["deep"]["x"] = value  # type: ignore[index]
    call = ToolCall.model_construct(id="c", name="f", arguments={"x": [value]})
    return [
        changed,
        ChatMessage.model_construct(role="user", content="x", metadata={"x": value}),
        ChatMessage.model_construct(role="assistant", tool_calls=[call]),
        ChatMessage.model_construct(role="tool", tool_metadata={"t": value}),
    ]


def _unvalidated_usages() -> list[Usage]:
    changed = Usage(input_tokens=1, details={"cached": 1})
    changed.details["cached"] = -1  # type: ignore[attr-defined]
    assigned = Usage()
    assigned.input_tokens = 2**63
    return [
        changed,
        assigned,
        Usage.model_construct(input_tokens=-1),
        Usage.model_construct(output_tokens=10**30),
        Usage.model_construct(cost=math.inf),
    ]


async def _nothing_changed(history: SessionHistory) -> None:
    assert [s.id for s in await history.list_sessions()] == ["s"]
    loaded = await history.load_session("s")
    assert loaded is not None and [m.content for m in loaded.messages] == ["kept"]
    assert loaded.usage is None and loaded.metadata == {}


@pytest.fixture
async def stored(session_history: SessionHistory) -> SessionHistory:
    await session_history.create_session(session("s", messages=[text("user", "kept")]))
    return session_history


@pytest.mark.parametrize("value", NON_FINITE)
async def test_a_non_finite_number_that_skipped_validation_is_refused_at_the_door(
    stored: SessionHistory, value: float
) -> None:
    for message in _unvalidated_messages(value):
        with pytest.raises(InvalidQueryError, match=r"messages\[0\].*JSON cannot hold"):
            await stored.append_messages("s", [message])
        other = session("new").model_copy(update={"messages": [message]})
        for write in (stored.create_session, stored.save_session):
            with pytest.raises(InvalidQueryError, match=r"cannot be stored.*JSON cannot hold"):
                await write(other)
        with pytest.raises(InvalidQueryError, match="JSON cannot hold"):
            await stored.append_messages("new", [text("user", "x")], create=other)
    changed = session("s", messages=[text("user", "kept")], metadata={"x": 1.0})
    changed.metadata["x"] = value
    with pytest.raises(InvalidQueryError, match=r"metadata\.x is"):
        await stored.save_session(changed)
    await _nothing_changed(stored)


async def test_usage_that_skipped_validation_is_refused_at_the_door(stored: SessionHistory) -> None:
    for usage in _unvalidated_usages():
        with pytest.raises(InvalidQueryError, match=r"usage\..* is") as caught:
            await stored.append_messages("s", [text("user", "x")], usage=usage)
        assert "\n" not in str(caught.value)
        other = session("new").model_copy(update={"usage": usage})
        for write in (stored.create_session, stored.save_session):
            with pytest.raises(InvalidQueryError, match="cannot be stored: usage"):
                await write(other)
        with pytest.raises(InvalidQueryError, match="usage"):
            await stored.append_messages("new", [], create=other)
    await _nothing_changed(stored)


def test_the_blocking_door_refuses_them_the_same(session_history_sync: SyncSessionHistory) -> None:
    session_history_sync.create_session(session("s"))
    with pytest.raises(InvalidQueryError, match=r"usage\.input_tokens is -1"):
        session_history_sync.append_messages("s", [], usage=Usage.model_construct(input_tokens=-1))
    [message, *_] = _unvalidated_messages(math.nan)
    with pytest.raises(InvalidQueryError, match="nan"):
        session_history_sync.append_messages("s", [message])
    assert session_history_sync.load_messages("s") == []


async def test_an_import_reports_each_line_whose_numbers_a_store_cannot_keep(
    session_history: SessionHistory,
) -> None:
    def line(session_id: str, **fields: object) -> str:
        document = {"session_id": session_id, "agent_name": "a", "model": "m", "messages": []}
        return json.dumps({**document, **fields})

    lines = [
        line("good-1", usage={"input_tokens": MAX}),
        line("huge", usage={"input_tokens": 10**30}),
        line("negative", usage={"output_tokens": -1}),
        line("nested", usage={"details": {"cached": 2**63}}),
        line("nan-usage", usage={"cost": math.nan}),
        line("nan-metadata", metadata={"x": math.nan}),
        line("inf-message", messages=[{"role": "user", "metadata": {"x": math.inf}}]),
        line(
            "inf-tool",
            messages=[
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "name": "f", "arguments": {"x": -math.inf}}],
                }
            ],
        ),
        line("good-2", usage={"cost": 1e308}),
    ]
    report = await session_history.import_jsonl(lines)
    assert report.added == 2
    assert [number for number, _ in report.errors] == [2, 3, 4, 5, 6, 7, 8]
    assert "usage.input_tokens is 1000000000000000000000000000000" in report.errors[0][1]
    assert "usage.details.cached is 9223372036854775808" in report.errors[2][1]
    assert {s.id for s in await session_history.list_sessions()} == {"good-1", "good-2"}


async def _write_old_usage(history: SessionHistory, session_id: str, usage: str) -> None:
    """Usage as an older version (which took any integer) wrote it, under the API."""
    await raw_sql(
        history,
        "UPDATE sessions SET usage = ? WHERE session_id = ?",
        "UPDATE {s}.sessions SET usage = $1::json WHERE session_id = $2",
        usage,
        session_id,
    )


async def test_stats_answer_on_a_database_holding_usage_out_of_range(
    session_history: SessionHistory,
) -> None:
    """Totals are shown at the nearest bound of 0..2**63 - 1; the sessions still load."""
    for session_id in ("huge", "negative", "small"):
        await session_history.create_session(session(session_id))
    await _write_old_usage(
        session_history, "huge", '{"input_tokens": 1%s, "output_tokens": 5}' % ("0" * 30)
    )
    await _write_old_usage(session_history, "negative", '{"output_tokens": -100}')
    await _write_old_usage(session_history, "small", '{"input_tokens": 7, "total_tokens": 7}')
    stats = await session_history.stats()
    assert (stats.input_tokens, stats.output_tokens, stats.total_tokens) == (MAX, 0, 7)
    assert stats.sessions == 3
    summary = await session_history.get_summary("negative")
    assert summary is not None and summary.usage is not None
    assert summary.usage.output_tokens == -100  # read as stored, never changed
    assert len(await session_history.list_sessions()) == 3
    assert await session_history.load_session("huge") is not None


async def test_stats_answer_when_the_sessions_add_up_past_64_bits(
    session_history: SessionHistory,
) -> None:
    """Each count fits; their sum need not. A session's total keeps adding exactly."""
    half = Usage(input_tokens=2**62, total_tokens=3)
    for session_id in ("a", "b", "c"):
        await session_history.create_session(session(session_id, usage=half))
    await session_history.append_messages("c", [text("user", "x")], usage=half)
    summary = await session_history.get_summary("c")
    assert summary is not None and summary.usage is not None
    assert summary.usage.input_tokens == 2**63  # the stored total, exact on both backends
    stats = await session_history.stats()
    assert (stats.input_tokens, stats.total_tokens) == (MAX, 12)
