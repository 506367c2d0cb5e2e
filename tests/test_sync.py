"""The blocking door: works from plain code and from inside a running event loop, closes cleanly,
and behaves exactly as the async door (as simonw/llm's test_async_parity does)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import inspect
import re
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

from session_history import (
    HistoryConfig,
    HookError,
    NotADatabaseError,
    SessionHistory,
    SessionNotFoundError,
    StoreClosedError,
    SyncSessionHistory,
    hookimpl,
)

from .helpers import USAGE, session, text, turn


def test_sync_door_round_trip(session_history_sync: SyncSessionHistory) -> None:
    session_history_sync.create_session(session("a", messages=turn(0)))
    session_history_sync.append_messages("a", turn(1), usage=USAGE)
    loaded = session_history_sync.load_session("a")
    assert loaded is not None and loaded.messages == [*turn(0), *turn(1)]
    assert [s.id for s in session_history_sync.list_sessions()] == ["a"]
    with pytest.raises(SessionNotFoundError):
        session_history_sync.append_messages("missing", [text("user", "x")])


async def test_sync_door_works_inside_a_running_event_loop(
    session_history_config: HistoryConfig,
) -> None:
    # A synchronous library called from async code: the caller's loop is running in this thread.
    with SyncSessionHistory(session_history_config) as history:
        history.create_session(session("a"))
        history.append_messages("a", [text("user", "from a running loop")])
        loaded = history.load_session("a")
    assert loaded is not None and loaded.messages[0].content == "from a running loop"


def test_sync_doors_on_one_file_from_several_threads(session_history_config: HistoryConfig) -> None:
    with SyncSessionHistory(session_history_config) as history:
        history.create_session(session("shared"))

        def work(w: int) -> None:
            for i in range(20):
                history.append_messages("shared", [text("user", f"{w}-{i}")])

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        loaded = history.load_session("shared")
    assert loaded is not None and len(loaded.messages) == 80


def test_a_blocking_call_from_the_background_loop_is_an_error_not_a_hang(
    session_history_config: HistoryConfig,
) -> None:
    """An async hook runs on the background loop; a blocking call from there would wait on the
    loop it blocks. It fails at once, saying what to do."""
    calls: list[str] = []

    class BlockingHook:
        @hookimpl
        async def session_history_saved(self, history: SessionHistory, summary: object) -> None:
            calls.append("hook")
            SyncSessionHistory.wrap(history).session_count()

    with SyncSessionHistory(session_history_config, plugins=[BlockingHook()]) as history:
        with pytest.raises(HookError) as info:
            history.create_session(session("a"))
        assert isinstance(info.value.__cause__, RuntimeError)
        assert "await the async method instead" in str(info.value.__cause__)
        assert calls == ["hook"]
        assert history.session_count() == 1  # the write had committed; the door still works


def test_a_blocking_call_carries_the_callers_context_variables(
    session_history_config: HistoryConfig,
) -> None:
    """Hooks run on the background loop but see the caller's context (a request id, say)."""
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
    seen: list[str] = []

    class Audit:
        @hookimpl
        async def session_history_saved(self, history: SessionHistory, summary: object) -> None:
            seen.append(request_id.get())

    with SyncSessionHistory(session_history_config, plugins=[Audit()]) as history:
        for rid in ("req-1", "req-2"):
            token = request_id.set(rid)
            try:
                history.create_session(session(rid))
            finally:
                request_id.reset(token)
    assert seen == ["req-1", "req-2"]


def test_closed_sync_history_is_a_clear_error(session_history_config: HistoryConfig) -> None:
    history = SyncSessionHistory(session_history_config)
    history.close()
    history.close()
    with pytest.raises(StoreClosedError, match="closed"):
        history.session_count()


def _blocking_threads() -> int:
    """Threads that would keep the interpreter from exiting."""
    return sum(1 for t in threading.enumerate() if not t.daemon)


def test_a_failed_open_leaves_no_thread_behind(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_text("not a database")
    before = _blocking_threads()
    with pytest.raises(NotADatabaseError, match="not an SQLite database"):
        SyncSessionHistory(HistoryConfig(enabled=True, db_path=bad, load_entrypoint_plugins=False))
    assert _blocking_threads() == before


def test_an_unclosed_sync_history_warns_and_still_lets_the_process_exit(
    session_history_config: HistoryConfig,
) -> None:
    before = _blocking_threads()
    history = SyncSessionHistory(session_history_config)
    history.session_count()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del history
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)
    assert _blocking_threads() == before


def test_disabled_sync_history_answers_like_the_reference(tmp_path: Path) -> None:
    with SyncSessionHistory(HistoryConfig(enabled=False, db_path=tmp_path / "x.db")) as history:
        assert not history.is_enabled
        assert history.load_session("a") is None
        assert history.list_sessions() == []
        assert history.session_count() == 0
        assert history.delete_session("a") is False
        assert history.enforce_max_sessions() == 0
    assert not (tmp_path / "x.db").exists()


# -- parity ---------------------------------------------------------------------------------------

PUBLIC = [
    name
    for name, member in inspect.getmembers(SessionHistory)
    if not name.startswith("_")
    and inspect.iscoroutinefunction(member)
    and name not in {"open", "close"}
]


def test_every_async_method_has_a_sync_twin_with_the_same_signature() -> None:
    assert len(PUBLIC) >= 11
    for name in PUBLIC:
        twin = getattr(SyncSessionHistory, name, None)
        assert twin is not None, f"SyncSessionHistory lacks {name}"
        async_params = list(inspect.signature(getattr(SessionHistory, name)).parameters.values())
        sync_params = list(inspect.signature(twin).parameters.values())
        assert [(p.name, p.kind, p.default) for p in async_params] == [
            (p.name, p.kind, p.default) for p in sync_params
        ], name


def _script() -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    return [
        ("create_session", (session("a", messages=turn(0)),), {}),
        ("create_session", (session("b", agent_name="other"),), {}),
        ("append_messages", ("a", turn(1)), {"usage": USAGE}),
        ("save_session", (session("c", messages=[text("user", "c")]),), {}),
        ("load_session", ("a",), {}),
        ("load_session", ("zzz",), {}),
        ("get_summary", ("a",), {}),
        ("load_messages", ("a",), {"last": 2}),
        ("load_metadata", ("a", "k"), {"last": 2}),
        ("set_state", ("a", {"k": 1}), {}),
        ("load_state", ("a",), {}),
        ("branch_session", ("a",), {"at": 3}),
        ("branch_session", ("a",), {"at": 99}),
        ("list_branches", ("a",), {}),
        ("fork_session", ("a", "f"), {"at": 1}),
        ("fork_session", ("a", "f"), {}),
        ("pop_messages", ("a", 2), {}),
        ("pop_messages", ("zzz",), {}),
        ("list_sessions", (), {"limit": 2}),
        ("list_agent_sessions", ("other",), {}),
        ("session_count", (), {}),
        ("delete_session", ("b",), {}),
        ("delete_session", ("b",), {}),
        ("prune", (), {"max_sessions": 1, "dry_run": True}),
        ("enforce_max_sessions", (), {}),
        ("append_messages", ("nope", [text("user", "x")]), {}),
        ("search", ("answer",), {"limit": 5}),
        ("search", ('"unbalanced',), {}),
        ("stats", (), {}),
        ("import_jsonl", (['{"session_id": "imp", "agent_name": "a", "model": "m"}', "{bad"],), {}),
    ]


def _normalise(value: Any) -> Any:
    """Drop the wall-clock times and the entry ids the store makes, which differ between two
    runs (how many ids an append returns, and where they are, stay)."""
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, str) and UUID7.fullmatch(value):
        return "<entry id>"
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if hasattr(value, "model_dump"):
        data = value.model_dump()
        for key in ("started_at", "updated_at", "oldest_update", "newest_update", "size_bytes"):
            data.pop(key, None)
        return _normalise(data)
    return value


UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_sync_and_async_doors_behave_the_same(tmp_path: Path) -> None:
    def make(name: str) -> HistoryConfig:
        return HistoryConfig(
            enabled=True, db_path=tmp_path / name, max_sessions=2, load_entrypoint_plugins=False
        )

    async def run_async() -> list[Any]:
        results: list[Any] = []
        async with SessionHistory(make("async.db")) as history:
            for name, args, kwargs in _script():
                try:
                    results.append(_normalise(await getattr(history, name)(*args, **kwargs)))
                except Exception as exc:  # noqa: BLE001 - errors are compared too
                    results.append(type(exc))
        return results

    sync_results: list[Any] = []
    with SyncSessionHistory(make("sync.db")) as history:
        for name, args, kwargs in _script():
            try:
                sync_results.append(_normalise(getattr(history, name)(*args, **kwargs)))
            except Exception as exc:  # noqa: BLE001 - errors are compared too
                sync_results.append(type(exc))
    assert sync_results == asyncio.run(run_async())
    assert {name for name, _, _ in _script()} == set(PUBLIC)


async def test_wrap_gives_a_blocking_door_onto_the_same_store(
    session_history_config: HistoryConfig,
) -> None:
    history = SessionHistory(session_history_config)
    door = SyncSessionHistory.wrap(history)
    assert history.is_open and door.is_open
    door.create_session(session("a"))
    assert [s.id for s in await history.list_sessions()] == ["a"]
    await history.close()
    assert not door.is_open
    with pytest.raises(StoreClosedError):
        door.session_count()
    door.close()


async def test_a_wrapped_door_left_unclosed_leaves_the_store_to_its_owner(
    session_history: SessionHistory,
) -> None:
    """Doors made for a while onto a store that outlives them (a test's door onto a module's
    store) are not closed one by one: no warning, and the store stays open."""
    door = SyncSessionHistory.wrap(session_history)
    door.create_session(session("a"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del door
        gc.collect()
    assert session_history.is_open and await session_history.session_count() == 1


def test_a_blocking_import_of_many_batches_overlaps_and_keeps_everything(
    session_history_sync: SyncSessionHistory,
) -> None:
    """More sessions than one batch: the import writes a batch while it parses the next."""
    lines = [
        session(f"s{i}", messages=[text("user", f"message {i}")]).model_dump_json()
        for i in range(7)
    ]
    report = session_history_sync.import_jsonl(lines, batch_size=2)
    assert (report.added, report.errors) == (7, [])
    assert session_history_sync.session_count() == 7
    again = session_history_sync.import_jsonl(lines, batch_size=2)
    assert again.unchanged == 7
