"""The hooks session-history calls, all in one place.

Implement them in a plugin (any object or module) with :data:`hookimpl` and register it with
``SessionHistory(config, plugins=[...])``, ``history.plugin_manager.register(...)``, or the
``session_history`` entry-point group of an installed package.

Rules that hold for every hook:

* Hooks fire **after** the write is committed. Nothing a hook does can lose or roll back that
  write; a hook that raises reaches the caller as :class:`~session_history.HookError` naming the
  plugin, after every other implementation of the hook has run.
* Implementations may be ``async def``: the store awaits them, one after the other, in pluggy's
  order (last registered first, ``tryfirst``/``trylast`` honoured). Hook wrappers are refused.
* Arguments are keyword-matched, so an implementation may accept only the ones it needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import pluggy

if TYPE_CHECKING:
    from ._history import SessionHistory
    from ._models import ChatMessage, SessionSummary

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME = "session_history"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a plugin's function as an implementation of a session-history hook."""


@hookspec
def session_history_saved(
    history: SessionHistory,
    summary: SessionSummary,
    new_messages: Sequence[ChatMessage],
    operation: Literal["create", "save", "append", "branch", "fork"],
) -> None:
    """After ``create_session``, ``save_session``, ``append_messages``, ``branch_session`` or
    ``fork_session`` committed, and for each session ``import_jsonl`` wrote (``"create"`` for one
    it added, ``"save"`` for one it replaced; none for one it found unchanged).

    ``summary`` is the session as stored after the write (its ``head``, ``revision`` and counts
    included); ``new_messages`` are the messages this call wrote, each with its ``entry_id`` (for
    a save that only added to a stored prefix, just the added ones). A ``"branch"`` writes none:
    the head moved (``summary.head``), the branch left is kept. A ``"fork"`` gives the new
    session's messages, which it shares with its source. An append that was a retry of one
    already stored (its entry ids are on the path) wrote nothing and fires nothing.
    """


@hookspec
def session_history_popped(
    history: SessionHistory, summary: SessionSummary, popped: Sequence[ChatMessage]
) -> None:
    """After ``pop_messages`` removed the last messages of a session (never with none).

    ``summary`` is the session as stored after the removal; ``popped`` are the removed messages,
    in their order. A mirror or an index kept by a plugin removes them too.
    """


@hookspec
def session_history_pruned(
    history: SessionHistory,
    pruned: Sequence[SessionSummary],
    reason: Literal["max_sessions", "max_age", "expired"],
) -> None:
    """After pruning committed the removal of ``pruned`` (never called with an empty list)."""


@hookspec
def session_history_deleted(history: SessionHistory, session_id: str) -> None:
    """After ``delete_session`` removed a session that existed."""
