"""``AdvancedSQLiteSession``'s usage per turn, kept in the session's state.

``store_run_usage`` records a run's usage against the current turn of the current branch (a
second run in the same turn replaces it, as in the SDK) and adds it to the session's total
(``SessionSummary.usage``, which ``session-history stats`` shows) in the same transaction. The
two agree while nothing is removed: a pop that empties a turn, ``delete_branch`` and
``clear_session`` drop the SDK's figures for what they remove, where the session's total keeps
the tokens that were spent.
"""

from __future__ import annotations

import json
from typing import Any

from agents import Usage as AgentsUsage
from agents.logger import log_model_action_error, log_model_action_warning
from agents.result import RunResultBase
from pydantic import JsonValue

from session_history import Session

from ._door import Door
from .convert import usage_of
from .layout import BRANCHES_KEY, USAGE_KEY, View
from .structure import turn_count

__all__ = ["TurnUsage"]


class TurnUsage(Door):
    """The usage methods of ``HistorySession``."""

    agent_name: str
    model: str | None

    async def store_run_usage(self, result: RunResultBase) -> None:
        """Record ``result``'s usage (``result.context_wrapper.usage``) for the current turn of
        the current branch, and add it to the session's total. Call it after ``Runner.run``.

        Never raises: a failure is logged (as the SDK logs it) and the run goes on; so does a
        call after ``close()``.
        """
        try:
            usage = result.context_wrapper.usage
            if usage is not None:
                async with self._lock:
                    await self._retrying(lambda view: self._store(view, usage), read=False)
        except Exception as exc:  # noqa: BLE001 - the SDK's contract: usage never fails a run
            log_model_action_error(
                self._logger,
                "Failed to store session usage",
                exc,
                diagnostic_extra=lambda: {"session_id": self.session_id},
            )

    async def _store(self, view: View, usage: AgentsUsage) -> None:
        name = self._current
        if view.revision is not None and name == view.head and view.head_turns is None:
            view.head_turns = turn_count(await self._head_items(view, None))
        if view.revision is None:
            turn = 0
        elif name == view.head:
            turn = view.head_turns or 0
        else:
            turn = int(view.branches.get(name, {}).get("turns", 0))
        view.usage.setdefault(name, {})[str(turn)] = self._row(usage)
        state: dict[str, JsonValue] = {USAGE_KEY: view.usage_value()}
        if view.revision is None:
            first = Session(
                session_id=self.session_id,
                agent_name=self.agent_name,
                model=self.model or "unknown",
            )
            if name != view.head:
                view.head = name
                state[BRANCHES_KEY] = view.layout()
            await self.history.append_messages(
                self.session_id, [], usage=usage_of(usage), create=first, state=state
            )
            self._view = None  # made now: its revision is read next time
            return
        await self.history.append_messages(
            self.session_id,
            [],
            usage=usage_of(usage),
            state=state,
            expected_revision=view.revision,
        )
        view.revision += 1

    def _row(self, usage: AgentsUsage) -> dict[str, Any]:
        return {
            "requests": usage.requests or 0,
            "input_tokens": usage.input_tokens or 0,
            "output_tokens": usage.output_tokens or 0,
            "total_tokens": usage.total_tokens or 0,
            "input_tokens_details": self._details(usage, "input_tokens_details"),
            "output_tokens_details": self._details(usage, "output_tokens_details"),
        }

    def _details(self, usage: AgentsUsage, field: str) -> Any:
        details = getattr(usage, field, None)
        if not details:
            return None
        try:
            # The SDK stores json.dumps(details.__dict__): the same keys, read back the same.
            return json.loads(json.dumps(details.__dict__))
        except (TypeError, ValueError) as exc:
            log_model_action_warning(self._logger, f"Failed to serialize {field}", exc)
            return None

    async def get_session_usage(self, branch_id: str | None = None) -> dict[str, int] | None:
        """The usage of every branch (or of ``branch_id``): ``requests``, ``input_tokens``,
        ``output_tokens``, ``total_tokens`` and ``total_turns``; None when none was stored."""
        view = await self._read_usage()
        rows = [
            row
            for name, turns in view.usage.items()
            if not branch_id or name == branch_id
            for row in turns.values()
        ]
        if not rows:
            return None
        totals = {
            key: sum(int(row[key]) for row in rows)
            for key in ("requests", "input_tokens", "output_tokens", "total_tokens")
        }
        return {**totals, "total_turns": len(rows)}

    async def get_turn_usage(
        self, user_turn_number: int | None = None, branch_id: str | None = None
    ) -> list[dict[str, Any]] | dict[str, Any]:
        """The usage of turn ``user_turn_number`` of the branch (the current one when
        ``branch_id`` is None) as a dict (``{}`` when none), or of every turn as a list of
        dicts with ``user_turn_number``, by turn; token details as nested dicts."""
        view = await self._read_usage()
        turns = view.usage.get(self._current if branch_id is None else branch_id, {})
        if user_turn_number is not None:
            return dict(turns.get(str(user_turn_number), {}))
        return [
            {"user_turn_number": int(turn), **row}
            for turn, row in sorted(turns.items(), key=lambda kv: int(kv[0]))
        ]

    async def _read_usage(self) -> View:
        async def look(view: View) -> View:
            return view

        async with self._lock:
            return await self._retrying(look, read=True)
