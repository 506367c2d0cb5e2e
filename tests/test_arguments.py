"""Every public method given a bad argument raises InvalidQueryError naming it, on every backend
and through both doors (the async history and the blocking one answer the same)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from session_history import (
    ChatMessage,
    InvalidQueryError,
    SessionHistory,
    SyncSessionHistory,
    Usage,
)

from .helpers import session, text

BIG = 2**63
MAX = BIG - 1
EAST = timezone(timedelta(hours=14))
WEST = timezone(timedelta(hours=-14))

COUNT = r"must be an integer from 0 to 9223372036854775807"
POSITIVE = r"must be an integer from 1 to 9223372036854775807"
NOT_A_COUNT = ["1", 1.0, 2.5, True, -1, BIG, [1]]


def _cases() -> list[Any]:
    """(method, args, kwargs, what the message says), one row per bad argument."""
    rows: list[tuple[str, tuple[object, ...], dict[str, object], str]] = []
    for bad in [*NOT_A_COUNT, None]:
        rows.append(("pop_messages", ("s", bad), {}, f"n {COUNT}"))
    for bad in NOT_A_COUNT:
        rows.append(("load_messages", ("s",), {"last": bad}, f"last {COUNT}"))
        rows.append(("load_metadata", ("s", "k"), {"last": bad}, f"last {COUNT}"))
        rows.append(("list_sessions", (), {"limit": bad}, f"limit {COUNT}"))
        rows.append(("list_sessions", (), {"offset": bad}, f"offset {COUNT}"))
        rows.append(("prune", (), {"max_sessions": bad}, f"max_sessions {COUNT}"))
    rows.append(("list_sessions", (), {"offset": None}, f"offset {COUNT}"))
    for bad in [0, "5", 5.0, None, True, BIG]:
        rows.append(("search", ("hello",), {"limit": bad}, f"limit {POSITIVE}"))
        rows.append(("export_jsonl", (), {"batch_size": bad}, f"batch_size {POSITIVE}"))
        rows.append(("import_jsonl", ([],), {"batch_size": bad}, f"batch_size {POSITIVE}"))
    for bad in [5, None, b"k"]:
        rows.append(("load_metadata", ("s", bad), {}, "key must be a str"))
    rows.append(("load_metadata", ("s", "k\udcff"), {}, "key .* no UTF-8 form"))
    for name in ("agent_name", "model"):
        rows.append(("list_sessions", (), {name: 5}, f"{name} must be a str or None"))
        rows.append(("list_sessions", (), {name: "a\udcff"}, f"{name} .* no UTF-8 form"))
        rows.append(("list_sessions", (), {name: "a\x00"}, f"{name} .* U\\+0000"))
    for bad in [None, 5, b"agent", "a\udcff", "a\x00"]:
        rows.append(("list_agent_sessions", (bad,), {}, "agent_name"))
        if bad is not None:
            rows.append(("search", ("hello",), {"agent_name": bad}, "agent_name"))
    for name in ("updated_since", "updated_until"):
        for bad in ["2026-01-01", 5, date(2026, 1, 1)]:
            rows.append(("list_sessions", (), {name: bad}, f"{name} must be a datetime"))
        for bad in [datetime(9999, 12, 31, 23, 0, tzinfo=WEST), datetime(1, 1, 1, tzinfo=EAST)]:
            rows.append(("list_sessions", (), {name: bad}, f"{name} .* outside the years"))
    for bad in ["s", {"id": "s"}, 5]:
        rows.append(("list_sessions", (), {"after": bad}, "after must be a SessionSummary"))
    for bad in [None, 5, b"hello"]:
        rows.append(("search", (bad,), {}, "query must be a str"))
    for bad in ["[]", ("[",), ("[", "]", "!"), None, ("[", 5), ("[", "\x00"), ("\udcff", "]")]:
        rows.append(("search", ("hello",), {"highlight": bad}, "highlight"))
    for bad in [-timedelta(seconds=1), 5, "1d"]:
        rows.append(("prune", (), {"max_age": bad}, "max_age must be a timedelta of 0 or more"))
    for bad in ["yes", None, 1]:
        rows.append(("prune", (), {"dry_run": bad}, "dry_run must be True or False"))
    for bad in ['{"session_id": "x"}', b"{}", 5, None]:
        rows.append(("import_jsonl", (bad,), {}, "lines must be an iterable of lines"))
    rows.append(("import_jsonl", (["", 5],), {}, "line 2 must be a str or bytes"))
    for name in ("create_session", "save_session"):
        for bad in [{"session_id": "x", "agent_name": "a", "model": "m"}, None, "x"]:
            rows.append((name, (bad,), {}, "session must be a Session"))
    message = text("user", "hi")
    for bad in ["hi", message, None, {"role": "user"}]:
        rows.append(("append_messages", ("s", bad), {}, "messages must be a list of ChatMessage"))
    rows.append(("append_messages", ("s", [message, "hi"]), {}, r"messages\[1\] must be"))
    for bad in [{"input_tokens": 1}, 5]:
        rows.append(("append_messages", ("s", [message]), {"usage": bad}, "usage must be a Usage"))
    rows.append(("append_messages", ("s", [message]), {"create": "s"}, "create must be a Session"))
    return [
        pytest.param(method, args, kwargs, match, id=f"{method}-{index}")
        for index, (method, args, kwargs, match) in enumerate(rows)
    ]


CASES = _cases()


async def _call_async(history: SessionHistory, method: str, args: Any, kwargs: Any) -> object:
    if method == "export_jsonl":
        return [line async for line in history.export_jsonl(*args, **kwargs)]
    return await getattr(history, method)(*args, **kwargs)


def _call_sync(history: SyncSessionHistory, method: str, args: Any, kwargs: Any) -> object:
    if method == "export_jsonl":
        return list(history.export_jsonl(*args, **kwargs))
    return getattr(history, method)(*args, **kwargs)


@pytest.fixture
async def stored(session_history: SessionHistory) -> SessionHistory:
    """A store holding one session, so that a call that got through would have work to do."""
    await session_history.create_session(session("s", messages=[text("user", "hello world")]))
    return session_history


@pytest.mark.parametrize(("method", "args", "kwargs", "match"), CASES)
async def test_a_bad_argument_is_an_invalid_query_error_naming_it(
    stored: SessionHistory, method: str, args: Any, kwargs: Any, match: str
) -> None:
    with pytest.raises(InvalidQueryError, match=match) as caught:
        await _call_async(stored, method, args, kwargs)
    assert "\n" not in str(caught.value)
    assert await stored.session_count() == 1
    assert len(await stored.load_messages("s")) == 1  # nothing was changed


@pytest.mark.parametrize(("method", "args", "kwargs", "match"), CASES)
def test_the_blocking_door_gives_the_same_errors(
    session_history_sync: SyncSessionHistory, method: str, args: Any, kwargs: Any, match: str
) -> None:
    session_history_sync.create_session(session("s", messages=[text("user", "hello world")]))
    with pytest.raises(InvalidQueryError, match=match):
        _call_sync(session_history_sync, method, args, kwargs)
    assert len(session_history_sync.load_messages("s")) == 1


def test_a_disabled_history_refuses_the_same_arguments(tmp_path: Path) -> None:
    """Off or on, a wrong call is wrong: the checks come before the backend."""
    with SyncSessionHistory() as history:
        for method, args, kwargs, match in (case.values for case in CASES):
            with pytest.raises(InvalidQueryError, match=match):
                _call_sync(history, method, args, kwargs)


def test_a_config_that_is_not_one_is_refused() -> None:
    for bad in ["history.db", Path("history.db"), {"enabled": True}]:
        with pytest.raises(InvalidQueryError, match="config must be a HistoryConfig or None"):
            SessionHistory(bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidQueryError, match="config must be a HistoryConfig or None"):
            SyncSessionHistory(bad)  # type: ignore[arg-type]


async def test_the_largest_counts_and_spans_are_taken_on_every_backend(
    stored: SessionHistory,
) -> None:
    """2**63 - 1 fits both databases' integers; a max_age longer than the calendar prunes none."""
    assert len(await stored.list_sessions(limit=MAX)) == 1
    assert await stored.list_sessions(limit=MAX, offset=MAX) == []
    assert len(await stored.load_messages("s", last=MAX)) == 1
    assert await stored.load_metadata("s", "k", last=MAX) == [None]
    assert len(await stored.search("hello", limit=MAX)) == 1
    assert len([line async for line in stored.export_jsonl(batch_size=MAX)]) == 1
    assert (await stored.import_jsonl([], batch_size=MAX)).sessions == 0
    assert await stored.prune(max_sessions=MAX, max_age=timedelta.max) == []
    assert await stored.prune(max_age=timedelta(0), dry_run=True) != []
    assert len(await stored.pop_messages("s", MAX)) == 1


async def test_times_at_the_ends_of_the_calendar_filter_as_times(stored: SessionHistory) -> None:
    """Naive and aware, at either end: compared as UTC instants, never an overflow."""
    everything = [
        {"updated_since": datetime.min},
        {"updated_since": datetime.min.replace(tzinfo=UTC)},
        {"updated_until": datetime.max},
        {"updated_until": datetime.max.replace(tzinfo=UTC)},
        {"updated_until": datetime(9999, 12, 31, 9, 0, tzinfo=EAST)},
    ]
    for filters in everything:
        assert len(await stored.list_sessions(**filters)) == 1, filters  # type: ignore[arg-type]
    assert await stored.list_sessions(updated_until=datetime.min) == []
    assert await stored.list_sessions(updated_since=datetime.max.replace(tzinfo=UTC)) == []


async def test_counts_given_as_other_integer_types_are_taken(stored: SessionHistory) -> None:
    """Anything Python takes as an index (``__index__``: numpy's integers) is a count."""

    class Index:
        def __index__(self) -> int:
            return 1

    assert len(await stored.list_sessions(limit=Index())) == 1  # type: ignore[arg-type]
    assert len(await stored.load_messages("s", last=Index())) == 1  # type: ignore[arg-type]


def test_messages_may_be_any_sequence_of_messages(session_history_sync: SyncSessionHistory) -> None:
    session_history_sync.create_session(session("s"))
    session_history_sync.append_messages("s", (ChatMessage(role="user", content="a"),))
    session_history_sync.append_messages("s", [], usage=Usage())
    assert [m.content for m in session_history_sync.load_messages("s")] == ["a"]
