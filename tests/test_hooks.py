"""pluggy hooks: payloads, async implementations, errors after commit, registration routes."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from session_history import (
    ChatMessage,
    HistoryConfig,
    HookError,
    SessionHistory,
    SessionSummary,
    SyncSessionHistory,
    hookimpl,
)
from session_history import hookspecs as hookspecs_module
from session_history._plugins import call_hook, make_plugin_manager

from .helpers import session, text, turn


class Recorder:
    """Records every hook call. A plain class: pluggy refuses a second plugin equal to the first."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def session_history_saved(
        self,
        history: SessionHistory,
        summary: SessionSummary,
        new_messages: Sequence[ChatMessage],
        operation: str,
    ) -> None:
        self.calls.append(
            (
                "saved",
                {
                    "history": history,
                    "summary": summary,
                    "new": list(new_messages),
                    "op": operation,
                },
            )
        )

    @hookimpl
    def session_history_pruned(
        self, history: SessionHistory, pruned: Sequence[SessionSummary], reason: str
    ) -> None:
        self.calls.append(("pruned", {"ids": sorted(s.id for s in pruned), "reason": reason}))

    @hookimpl
    def session_history_popped(
        self, history: SessionHistory, summary: SessionSummary, popped: Sequence[ChatMessage]
    ) -> None:
        self.calls.append(("popped", {"summary": summary, "popped": list(popped)}))

    @hookimpl
    def session_history_deleted(self, history: SessionHistory, session_id: str) -> None:
        self.calls.append(("deleted", {"session_id": session_id}))


async def test_saved_fires_after_each_write_with_what_it_wrote(
    session_history_config: HistoryConfig,
) -> None:
    recorder = Recorder()
    async with SessionHistory(session_history_config, plugins=[recorder]) as history:
        await history.create_session(session("a", messages=turn(0)))
        await history.append_messages("a", [text("user", "more")])
        await history.save_session(
            session("a", messages=[*turn(0), text("user", "more"), *turn(1)])
        )
    ops = [
        (kind, data["op"], len(data["new"]), data["summary"].message_count)
        for kind, data in recorder.calls
    ]
    assert ops == [("saved", "create", 4, 4), ("saved", "append", 1, 5), ("saved", "save", 4, 9)]
    _, append_call = recorder.calls[1]
    assert append_call["history"] is history
    assert append_call["new"] == [text("user", "more")]
    assert append_call["summary"].id == "a"


async def test_pruned_and_deleted_fire_with_their_payloads(
    session_history_config: HistoryConfig,
) -> None:
    recorder = Recorder()
    limited = session_history_config.model_copy(update={"max_sessions": 1})
    async with SessionHistory(limited, plugins=[recorder]) as history:
        for sid in ("a", "b", "c"):
            await history.create_session(session(sid))
        recorder.calls.clear()
        assert await history.enforce_max_sessions() == 2
        assert await history.delete_session("c")
        assert not await history.delete_session("c")  # nothing deleted: no hook
        assert await history.enforce_max_sessions() == 0  # nothing pruned: no hook
    assert recorder.calls == [
        ("pruned", {"ids": ["a", "b"], "reason": "max_sessions"}),
        ("deleted", {"session_id": "c"}),
    ]


async def test_an_import_fires_saved_for_what_it_wrote(
    session_history_config: HistoryConfig,
) -> None:
    recorder = Recorder()
    async with SessionHistory(session_history_config, plugins=[recorder]) as history:
        await history.create_session(session("a", messages=turn(0)))
        await history.create_session(session("b", messages=turn(1)))
        lines = [line async for line in history.export_jsonl()]
        await history.save_session(session("b", messages=turn(2)))  # now differs from its line
        recorder.calls.clear()
        added = session("c", messages=turn(3)).model_dump_json()
        report = await history.import_jsonl([*lines, added], batch_size=2)
    assert (report.added, report.replaced, report.unchanged) == (1, 1, 1)
    saved = sorted(
        (kind, data["summary"].id, data["op"], data["new"]) for kind, data in recorder.calls
    )
    # The unchanged session "a" was not written, so no hook heard of it.
    assert saved == [("saved", "b", "save", turn(1)), ("saved", "c", "create", turn(3))]
    assert all(data["history"] is history for _, data in recorder.calls)


async def test_popped_fires_with_the_removed_messages_and_the_new_summary(
    session_history_config: HistoryConfig,
) -> None:
    recorder = Recorder()
    async with SessionHistory(session_history_config, plugins=[recorder]) as history:
        await history.create_session(session("a", messages=turn(0)))
        recorder.calls.clear()
        assert await history.pop_messages("a", 2) == turn(0)[2:]
        assert await history.pop_messages("missing") == []  # nothing removed: no hook
        assert await history.pop_messages("a", 0) == []
    [(kind, data)] = recorder.calls
    assert kind == "popped"
    assert data["popped"] == turn(0)[2:]
    assert (data["summary"].message_count, data["summary"].turn_count) == (2, 0)
    assert data["summary"].tool_call_count == 1


async def test_async_hook_implementations_are_awaited(
    session_history_config: HistoryConfig,
) -> None:
    seen: list[str] = []

    class AsyncPlugin:
        @hookimpl
        async def session_history_saved(self, summary: SessionSummary, operation: str) -> None:
            seen.append(f"{operation}:{summary.id}")

        @hookimpl
        async def session_history_deleted(self, session_id: str) -> None:
            seen.append(f"deleted:{session_id}")

    async with SessionHistory(session_history_config, plugins=[AsyncPlugin()]) as history:
        await history.create_session(session("a"))
        await history.delete_session("a")
    assert seen == ["create:a", "deleted:a"]


class Exploding:
    @hookimpl
    def session_history_saved(self) -> None:
        raise RuntimeError("boom")


async def test_a_raising_hook_loses_nothing_and_names_its_plugin(
    session_history_config: HistoryConfig,
) -> None:
    recorder = Recorder()
    async with SessionHistory(session_history_config, plugins=[recorder]) as history:
        history.plugin_manager.register(Exploding(), name="exploder")
        with pytest.raises(HookError, match="exploder") as info:
            await history.create_session(session("a", messages=turn(0)))
        assert info.value.plugin_name == "exploder"
        assert info.value.hook_name == "session_history_saved"
        assert isinstance(info.value.__cause__, RuntimeError)
        # Committed before the hook ran, and kept.
        loaded = await history.load_session("a")
        assert loaded is not None and loaded.messages == turn(0)
        with pytest.raises(HookError):
            await history.append_messages("a", [text("user", "x")])
        summary = await history.get_summary("a")
        assert summary is not None and summary.message_count == 5
    # The other plugin was still told about both writes.
    assert [data["op"] for _, data in recorder.calls] == ["create", "append"]


async def test_a_plugin_given_without_a_name_is_named_by_its_class(
    session_history_config: HistoryConfig,
) -> None:
    """pluggy names a plugin registered without a name by its id(), a number; the error names
    its class instead, and carries the plugin, to unregister it."""
    exploding = Exploding()
    async with SessionHistory(session_history_config, plugins=[exploding]) as history:
        with pytest.raises(HookError, match=r"^plugin 'Exploding' raised in session_history_saved"):
            await history.create_session(session("a"))
        with pytest.raises(HookError) as info:
            await history.create_session(session("b"))
        assert info.value.plugin_name == "Exploding" and info.value.plugin is exploding
        assert str(id(exploding)) not in str(info.value)
        history.plugin_manager.unregister(info.value.plugin)
        await history.create_session(session("c"))
        assert await history.session_count() == 3


async def test_a_raising_async_hook_is_reported_too(session_history_config: HistoryConfig) -> None:
    class AsyncExploding:
        @hookimpl
        async def session_history_deleted(self, session_id: str) -> None:
            raise ValueError(session_id)

    async with SessionHistory(session_history_config, plugins=[AsyncExploding()]) as history:
        await history.create_session(session("a"))
        with pytest.raises(HookError, match="ValueError"):
            await history.delete_session("a")
        assert await history.load_session("a") is None


async def test_plugins_register_through_the_plugin_manager(session_history: SessionHistory) -> None:
    recorder = Recorder()
    session_history.plugin_manager.register(recorder)
    await session_history.create_session(session("a"))
    assert [kind for kind, _ in recorder.calls] == ["saved"]
    session_history.plugin_manager.unregister(recorder)
    await session_history.create_session(session("b"))
    assert len(recorder.calls) == 1


async def test_hooks_run_in_pluggy_order(session_history_config: HistoryConfig) -> None:
    order: list[str] = []

    def make(name: str, **opts: bool) -> object:
        class Plugin:
            @hookimpl(**opts)
            def session_history_deleted(self) -> None:
                order.append(name)

        return Plugin()

    plugins = [make("first-registered"), make("last-registered"), make("trylast", trylast=True)]
    async with SessionHistory(session_history_config, plugins=plugins) as history:
        await history.create_session(session("a"))
        await history.delete_session("a")
    assert order == ["last-registered", "first-registered", "trylast"]


async def test_hook_wrappers_are_refused(session_history_config: HistoryConfig) -> None:
    class Wrapper:
        @hookimpl(wrapper=True)
        def session_history_deleted(self) -> Iterator[None]:
            yield

    async with SessionHistory(session_history_config, plugins=[Wrapper()]) as history:
        await history.create_session(session("a"))
        with pytest.raises(HookError, match="wrappers are not supported"):
            await history.delete_session("a")


def test_hooks_fire_through_the_sync_door_too(session_history_config: HistoryConfig) -> None:
    recorder = Recorder()
    with SyncSessionHistory(session_history_config, plugins=[recorder]) as history:
        history.create_session(session("a"))
        history.append_messages("a", [text("user", "x")])
        history.delete_session("a")
    assert [(kind, data.get("op")) for kind, data in recorder.calls] == [
        ("saved", "create"),
        ("saved", "append"),
        ("deleted", None),
    ]


def test_every_hookspec_is_documented_and_prefixed() -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    names = [name for name in dir(pm.hook) if not name.startswith("_")]
    assert sorted(names) == [
        "session_history_deleted",
        "session_history_popped",
        "session_history_pruned",
        "session_history_saved",
    ]
    for name in names:
        assert getattr(hookspecs_module, name).__doc__, name


# -- entry points -------------------------------------------------------------------------------


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real installed distribution declaring a ``session_history`` entry point."""
    module = "sh_test_entrypoint_plugin"
    (tmp_path / f"{module}.py").write_text(
        "from session_history import hookimpl\n"
        "CALLS = []\n"
        "@hookimpl\n"
        "def session_history_deleted(session_id):\n"
        "    CALLS.append(session_id)\n"
    )
    dist = tmp_path / "sh_test_entrypoint_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: sh-test-entrypoint-plugin\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(f"[session_history]\nexample = {module}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield module
    sys.modules.pop(module, None)


async def test_entry_point_plugins_load_when_enabled(
    session_history_config: HistoryConfig, installed_plugin: str
) -> None:
    enabled = session_history_config.model_copy(update={"load_entrypoint_plugins": True})
    async with SessionHistory(enabled) as history:
        assert history.plugin_manager.has_plugin("example")
        await history.create_session(session("a"))
        await history.delete_session("a")
    assert sys.modules[installed_plugin].CALLS == ["a"]


async def test_entry_point_plugins_stay_out_when_disabled(
    session_history_config: HistoryConfig, installed_plugin: str
) -> None:
    async with SessionHistory(session_history_config) as history:
        assert not history.plugin_manager.has_plugin("example")


async def test_call_hook_with_no_implementations_does_nothing() -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    await call_hook(pm.hook.session_history_deleted, history=None, session_id="x")
