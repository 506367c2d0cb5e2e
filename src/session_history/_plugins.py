"""The plugin manager: which plugins a history has, and how its hooks are called.

Each :class:`~session_history.SessionHistory` owns its own :class:`pluggy.PluginManager`, so a
test or an application can register plugins on one store without touching another.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Iterable, Sequence
from typing import Literal

import pluggy
from pluggy import HookImpl

from . import hookspecs
from ._background import elsewhere
from ._errors import HookError
from ._models import ChatMessage, SessionSummary

__all__ = ["ENTRYPOINT_GROUP", "Hooks", "call_hook", "make_plugin_manager", "plugin_name"]

ENTRYPOINT_GROUP = "session_history"


def make_plugin_manager(
    plugins: Iterable[object] = (), *, load_entrypoints: bool = True
) -> pluggy.PluginManager:
    """A plugin manager with our hookspecs, the installed plugins (if asked) and ``plugins``."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    if load_entrypoints:
        pm.load_setuptools_entrypoints(ENTRYPOINT_GROUP)
    for plugin in plugins:
        pm.register(plugin)
    return pm


async def call_hook(caller: pluggy.HookCaller, **kwargs: object) -> None:
    """Call every implementation of a hook (``pm.hook.<name>``), awaiting those that are
    ``async``.

    We walk the implementations ourselves, in the order pluggy's own call would use, instead of
    calling ``pm.hook.<name>(...)``: pluggy stops at the first error and drops the coroutines
    that earlier implementations returned (they would never be awaited), and its error does not
    say which plugin raised. Here every implementation runs, and the first error is raised as a
    :class:`HookError` that names its plugin.
    """
    name = caller.name
    errors: list[BaseException] = []
    failed: HookImpl | None = None
    for impl in reversed(caller.get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            raise HookError(
                name,
                plugin_name(impl),
                [TypeError("hook wrappers are not supported on session-history's hooks")],
                plugin=impl.plugin,
            )
        try:
            result = impl.function(*(kwargs[arg] for arg in impl.argnames))
            if inspect.isawaitable(result):
                # On the caller's loop; from a blocking door, on the background loop.
                await elsewhere(_awaited(result))
        except Exception as exc:  # noqa: BLE001 - any plugin error is reported as HookError
            failed = failed or impl
            errors.append(exc)
    if failed is not None:
        raise HookError(name, plugin_name(failed), errors, plugin=failed.plugin) from errors[0]


def plugin_name(impl: HookImpl) -> str:
    """How people know a plugin: the name it was registered under, or, when it was registered
    without one (pluggy then names it by its ``id()``, a number), its class."""
    if impl.plugin_name == str(id(impl.plugin)):
        return type(impl.plugin).__qualname__
    return impl.plugin_name


class Hooks:
    """Fires a history's hooks, each after its write committed (see :mod:`.hookspecs`), typed
    so that no caller names a hook by a string."""

    def __init__(self, pm: pluggy.PluginManager, history: object) -> None:
        self._hook = pm.hook
        self._history = history

    @property
    def wants_saved(self) -> bool:
        """Whether a plugin will receive a saved summary: the backend reads it back only then."""
        return bool(self._hook.session_history_saved.get_hookimpls())

    @property
    def wants_popped(self) -> bool:
        return bool(self._hook.session_history_popped.get_hookimpls())

    async def saved(
        self,
        summary: SessionSummary,
        new_messages: Sequence[ChatMessage],
        operation: Literal["create", "save", "append", "branch", "fork"],
    ) -> None:
        await call_hook(
            self._hook.session_history_saved,
            history=self._history,
            summary=summary,
            new_messages=list(new_messages),
            operation=operation,
        )

    async def popped(self, summary: SessionSummary, popped: list[ChatMessage]) -> None:
        await call_hook(
            self._hook.session_history_popped,
            history=self._history,
            summary=summary,
            popped=popped,
        )

    async def pruned(
        self, pruned: list[SessionSummary], reason: Literal["max_sessions", "max_age", "expired"]
    ) -> None:
        await call_hook(
            self._hook.session_history_pruned,
            history=self._history,
            pruned=pruned,
            reason=reason,
        )

    async def deleted(self, session_id: str) -> None:
        await call_hook(
            self._hook.session_history_deleted, history=self._history, session_id=session_id
        )


async def _awaited(awaitable: Awaitable[object]) -> object:
    return await awaitable
