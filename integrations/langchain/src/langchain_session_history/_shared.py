"""The stores ``SessionChatMessageHistory.from_path`` shares: one per database, per process.

LangChain makes a history per call (``RunnableWithMessageHistory``'s factory) and never closes
it. A store opened per history would leak one per call (a connection, a ``ResourceWarning``).
Instead, every history ``from_path`` makes for one database (and the same plugin objects) takes
a lease on one shared store, opened on the first. Closing a history returns its lease, and the
last lease returned closes the store. Leases never returned (a factory's histories) keep the
store open until :func:`close_shared_stores`, which also runs when the interpreter exits.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from session_history import HistoryConfig, SyncSessionHistory

__all__ = ["Lease", "close_shared_stores", "lease"]

_Key = tuple[str, tuple[int, ...]]


@dataclass(eq=False)
class _Shared:
    store: SyncSessionHistory
    leases: int = 0


_lock = threading.Lock()
_stores: dict[_Key, _Shared] = {}
_abandoned: list[_Shared] = []
"""Stores a forked child inherited: unusable there, and kept so that no finaliser warns."""


class Lease:
    """One history's hold on a shared store; :meth:`release` it once, when done."""

    def __init__(self, key: _Key, shared: _Shared) -> None:
        self._key = key
        self._shared: _Shared | None = shared
        self.store = shared.store

    def release(self) -> None:
        """Return the lease; the last one returned closes the store. Safe to call twice."""
        with _lock:
            shared, self._shared = self._shared, None
            if shared is None or _stores.get(self._key) is not shared:
                return  # released already, or the store was closed by close_shared_stores()
            shared.leases -= 1
            if shared.leases == 0:
                del _stores[self._key]
                shared.store.close()


def lease(db_path: str | Path, plugins: Sequence[object]) -> Lease:
    """A lease on the shared store of ``db_path`` with ``plugins``, opening it if needed.

    One store per database: a relative path and its absolute form name the same one. The plugin
    objects are part of the key (compared by identity: a store's hooks are fixed when it opens).
    """
    config = HistoryConfig.model_validate({"enabled": True, "db_path": str(db_path)})
    where = config.url if config.url is not None else str(config.db_path.resolve())
    key: _Key = (where, tuple(id(plugin) for plugin in plugins))
    with _lock:
        shared = _stores.get(key)
        if shared is None:
            shared = _stores[key] = _Shared(SyncSessionHistory(config, plugins=plugins))
        shared.leases += 1
        return Lease(key, shared)


def close_shared_stores() -> None:
    """Close every store ``from_path`` opened, whatever holds a lease on it.

    Runs when the interpreter exits. Call it yourself where an application shuts down (or
    between tests); histories made before then are closed, and the next ``from_path`` opens
    afresh.
    """
    with _lock:
        closing = list(_stores.values())
        _stores.clear()
    errors: list[Exception] = []
    for shared in closing:
        try:
            shared.store.close()
        except Exception as exc:  # noqa: BLE001 - close the others, then report the first
            errors.append(exc)
    if errors:
        raise errors[0]


def _forget_after_fork() -> None:
    """In a forked child the parent's connections are not usable: open new ones on next use."""
    global _lock
    _lock = threading.Lock()
    _abandoned.extend(_stores.values())
    _stores.clear()


atexit.register(close_shared_stores)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
