"""``HistorySession``: the OpenAI Agents SDK's ``Session`` on a session-history store."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from agents import TResponseInputItem
from agents import Usage as AgentsUsage
from agents.memory import SessionSettings
from agents.memory.session_settings import coerce_session_settings
from agents.result import RunResultBase, RunResultStreaming
from pydantic import JsonValue

from session_history import (
    ChatMessage,
    HistoryConfig,
    InvalidQueryError,
    Session,
    SessionHistory,
    StoreClosedError,
    SyncSessionHistory,
    run_sync,
)

from ._lock import lock_for
from .branches import Branches
from .convert import to_chat_message, to_items, usage_of
from .layout import BRANCHES_KEY, MAIN, USAGE_KEY, View
from .structure import is_user, turn_count
from .usage import TurnUsage

__all__ = ["HistorySession"]

# pop_messages takes a count: this one is more than any session holds.
_ALL = sys.maxsize


class HistorySession(Branches, TurnUsage):
    """The Agents SDK's ``Session`` protocol on a session-history store.

    Pass it to ``Runner.run(agent, input, session=session)``. Each SDK item is one message of the
    session ``session_id``, kept verbatim (``get_items`` returns exactly what ``add_items`` was
    given) and readable by everything else (the CLI, search, export, other integrations; see
    :mod:`openai_agents_session_history.convert` for the mapping). The session is created on the
    first write, with ``agent_name`` and ``model``.

    Each call is one transaction of the store: ``add_items`` appends all its items or none;
    ``pop_item`` removes the last item atomically, so concurrent ``add_items`` and ``pop_item``
    never lose, duplicate or bring back an item; ``get_items(limit=N)`` reads only the last N
    messages. The methods run on the caller's event loop, from any number of threads and loops.

    It is also a drop-in for ``agents.extensions.memory.AdvancedSQLiteSession``: the same
    branches (``create_branch_from_turn``, ``switch_to_branch``, ``list_branches``...), turns
    (``get_conversation_turns``...) and usage per turn (``store_run_usage``...), with the SDK's
    return shapes and errors. A branch of the SDK is a branch of the session's tree (see
    :mod:`openai_agents_session_history.layout`); each session object has a current branch of
    its own, ``main`` at first, as the SDK's have.

    Implements the ``agents.memory.Session`` protocol rather than subclassing ``SessionABC``,
    which the SDK reserves for its own sessions ("third-party libraries should implement the
    Session protocol instead").

    Args:
        session_id: The session this reads and writes (any non-empty string).
        history: An open ``SessionHistory`` or ``SyncSessionHistory`` (its store is used).
        agent_name: Recorded on the session when it is created.
        model: Recorded on the session when it is created (``"unknown"`` when None).
        session_settings: The SDK's settings (a ``SessionSettings`` or a dict); ``limit`` is
            the default of ``get_items``.
        logger: Where branch changes and failures of ``store_run_usage`` are logged (this
            module's logger by default), as ``AdvancedSQLiteSession``'s ``logger``.
    """

    session_settings: SessionSettings | None

    def __init__(
        self,
        session_id: str,
        history: SessionHistory | SyncSessionHistory,
        *,
        agent_name: str = "openai-agents",
        model: str | None = None,
        session_settings: SessionSettings | Mapping[str, Any] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise InvalidQueryError(
                f"session_id must be a non-empty string, not {session_id!r}; pass the id of the "
                "conversation"
            )
        self.session_id = session_id
        self.history = history.history if isinstance(history, SyncSessionHistory) else history
        self.agent_name = agent_name
        self.model = model
        if isinstance(session_settings, Mapping):
            session_settings = dict(session_settings)
        self.session_settings = (
            SessionSettings()
            if session_settings is None
            else coerce_session_settings(session_settings)
        )
        self._owned: SessionHistory | None = None
        self._closed = False
        self._lock = lock_for(self.history, session_id)
        self._logger = logger if logger is not None else logging.getLogger(__name__)
        self._current = MAIN
        self._generation = 0
        self._view: View | None = None

    @classmethod
    def from_path(
        cls,
        session_id: str,
        path_or_url: str | Path,
        *,
        agent_name: str = "openai-agents",
        model: str | None = None,
        session_settings: SessionSettings | Mapping[str, Any] | None = None,
        plugins: Sequence[object] = (),
        logger: logging.Logger | None = None,
    ) -> HistorySession:
        """A session on the database at ``path_or_url`` (a file, or a ``postgresql://`` URL),
        for scripts with no store open.

        It owns the store it opens, and closes it with ``close()``/``aclose()`` or at the end of
        ``with``/``async with``. The database is opened on entering those, else on first use.
        """
        config = HistoryConfig.model_validate({"enabled": True, "db_path": str(path_or_url)})
        store = SessionHistory(config, plugins=plugins)
        session = cls(
            session_id,
            store,
            agent_name=agent_name,
            model=model,
            session_settings=session_settings,
            logger=logger,
        )
        session._owned = store
        return session

    # -- the Session protocol ------------------------------------------------------------------

    async def get_items(
        self, limit: int | None = None, branch_id: str | None = None
    ) -> list[TResponseInputItem]:
        """The items of the current branch (or of ``branch_id``), oldest first.

        Args:
            limit: Only the last this many (still oldest first), read from the end of the
                branch; None means ``session_settings.limit``, and when that is None too,
                every item. 0 gives ``[]``.
            branch_id: The branch to read (``AdvancedSQLiteSession``'s argument); ``[]`` for
                a branch that holds nothing.

        Raises:
            InvalidQueryError: ``limit`` is negative.
        """
        if limit is None and self.session_settings is not None:
            limit = self.session_settings.limit
        if limit is not None and limit < 0:
            raise InvalidQueryError(
                f"limit must be 0 or more (or None for every item), not {limit}"
            )
        if limit == 0:
            return []

        async def read(view: View) -> list[TResponseInputItem]:
            return await self._head_items(view, limit)

        return await self._branch_read(branch_id, read, [])

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append ``items`` to the current branch, in order, in one transaction (all or none
        are stored).

        Raises:
            InvalidQueryError: an item is not a dict of JSON values; nothing was stored.
            StoreClosedError: the session opened its store (``from_path``) and was closed.
        """
        self._check_open()
        if not items:
            return
        messages = [to_chat_message(item) for item in items]
        users = turn_count(items)

        async def add(view: View) -> None:
            await self._append(view, messages, users)

        async with self._lock:
            await self._retrying(add, read=False)

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove the last item of the current branch and return it; None when the branch is
        empty or the session missing.

        An item another branch also holds (the branch was made from a later turn) stays
        stored for it. Atomic for items the SDK stored. A message written outside the SDK
        that stands for several items (an assistant text with tool calls) is removed whole:
        its last item is returned and the others are appended back as items of their own (a
        second write, which this process's sessions wait for; a writer in another process may
        land between the two). One that stands for no item (only reasoning) is removed, and
        the next one popped.
        """
        async with self._lock:
            return await self._retrying(self._pop, read=False)

    async def _pop(self, view: View) -> TResponseInputItem | None:
        name = self._current
        if view.revision is None or view.length(name) == 0:
            return None
        await self._head_on(view, name)
        while view.head_length:
            depth = view.head_length - 1
            if depth < int(view.record(name)["shared_below"]):
                # Another branch may hold it: move the head back, and the entry stays as a
                # branch of the tree for the others.
                popped = await self.history.load_messages(self.session_id, last=1)
                summary = await self.history.branch_session(
                    self.session_id, at=depth, expected_revision=view.revision
                )
                view.adopt(summary)
            else:
                popped = await self.history.pop_messages(
                    self.session_id, 1, expected_revision=view.revision
                )
                if not popped:
                    return None
                view.revision += 1
                view.head_length -= 1
                view.head_tip = None
                self._view = None  # the new head's entry id is read next time
            items = to_items(popped[0])
            if not items:
                continue
            if len(items) > 1:
                await self._append(view, [to_chat_message(item) for item in items[:-1]], 0)
            await self._forget_emptied_turn(view, name, items[-1])
            return items[-1]
        return None

    async def _forget_emptied_turn(self, view: View, name: str, popped: object) -> None:
        """Drop the usage the SDK drops with a turn a pop empties."""
        turns = view.usage.get(name)
        if not turns:
            view.head_turns = None
            return
        left = await self._head_items(view, None) if view.head_length else []
        view.head_turns = turn_count(left)
        emptied = []
        if is_user(popped):
            emptied.append(str(view.head_turns + 1))
        if not left:
            emptied.append("0")
        if any(turn in turns for turn in emptied):
            for turn in emptied:
                turns.pop(turn, None)
            if not turns:
                del view.usage[name]
            await self.history.set_state(self.session_id, {USAGE_KEY: view.usage_value()})
            self._view = None

    async def clear_session(self) -> None:
        """Remove every item of every branch, and the SDK's usage per turn, firing
        ``session_history_popped`` with them; every ``HistorySession`` of the session goes
        back to ``main``. Branch ids used stay used.

        The session itself stays, with its metadata and usage (tokens were spent), so that the
        SDK's compaction (``clear_session`` then ``add_items``) keeps them; delete the session
        with ``history.delete_session(session_id)`` to remove it altogether.
        """
        async with self._lock:
            await self._retrying(self._clear, read=True)

    async def _clear(self, view: View) -> None:
        if view.revision is None:
            self._current = MAIN
            return
        await self.history.pop_messages(self.session_id, _ALL)
        for branch in await self.history.list_branches(self.session_id):
            if not branch.current and branch.tip is not None:
                await self.history.branch_session(self.session_id, from_entry=branch.tip)
                await self.history.pop_messages(self.session_id, _ALL)
        cleared = View(revision=None, generation=view.generation + 1, used=view.used)
        await self.history.set_state(
            self.session_id, {BRANCHES_KEY: cleared.layout(), USAGE_KEY: None}
        )
        self._view = None
        self._generation, self._current = cleared.generation, MAIN

    # -- beyond the protocol ---------------------------------------------------------------------

    async def add_run_usage(self, result: RunResultBase | AgentsUsage) -> None:
        """Add a run's token usage (``result.context_wrapper.usage``) to the session's total,
        which ``session-history stats`` and the session's summary show.

        Call it once per run: each call adds. Creates the session if it does not exist yet.

        Args:
            result: What ``Runner.run`` returned (a finished ``run_streamed`` result too), or
                an ``agents.Usage``.

        Raises:
            InvalidQueryError: a streamed run that has not finished (its usage is incomplete).
        """
        if isinstance(result, AgentsUsage):
            usage = result
        else:
            if isinstance(result, RunResultStreaming) and not result.is_complete:
                raise InvalidQueryError(
                    "the streamed run has not finished, so its usage is incomplete; consume "
                    "result.stream_events() first, then call add_run_usage(result)"
                )
            usage = result.context_wrapper.usage
        first = Session(
            session_id=self.session_id, agent_name=self.agent_name, model=self.model or "unknown"
        )
        await self.history.append_messages(self.session_id, [], usage=usage_of(usage), create=first)

    async def _append(self, view: View, messages: Sequence[ChatMessage], users: int) -> None:
        """Append to the current branch (the session is created on its first write, in the
        append's own transaction: race-free)."""
        name = self._current
        if view.revision is None:
            first = Session(
                session_id=self.session_id,
                agent_name=self.agent_name,
                model=self.model or "unknown",
            )
            state: dict[str, JsonValue] | None = None
            if name != MAIN or view.generation:
                view.head = name
                state = {BRANCHES_KEY: view.layout()}
            await self.history.append_messages(self.session_id, messages, create=first, state=state)
            self._view = None  # made now: its revision is read next time
            return
        await self._head_on(view, name)
        ids = await self.history.append_messages(
            self.session_id, messages, expected_revision=view.revision
        )
        view.revision += 1
        view.head_length += len(ids)
        view.head_tip = ids[-1] if ids else view.head_tip
        if view.head_turns is not None:
            view.head_turns += users

    # -- owning a store (from_path) --------------------------------------------------------------

    def close(self) -> None:
        """Close the store if this session opened it (``from_path``); otherwise do nothing."""
        if self._owned is not None:
            owned, self._owned, self._closed = self._owned, None, True
            run_sync(owned.close)

    async def aclose(self) -> None:
        """Close the store if this session opened it (``from_path``); otherwise do nothing."""
        if self._owned is not None:
            owned, self._owned, self._closed = self._owned, None, True
            await owned.close()

    def _check_open(self) -> None:
        # The SDK refuses add_items([]) after close() too: a closed session says so at once.
        if self._closed:
            raise StoreClosedError(
                f"HistorySession {self.session_id!r} closed the store it opened; make a new "
                "session (HistorySession.from_path) to go on"
            )

    def __enter__(self) -> Self:
        if self._owned is not None:
            run_sync(self._owned.open)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        if self._owned is not None:
            await self._owned.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<HistorySession {self.session_id!r} on {self.history!r}>"


if TYPE_CHECKING:
    from agents.memory import Session as _SessionProtocol

    def _conforms(session: HistorySession) -> _SessionProtocol:
        return session  # mypy checks the protocol's signatures against ours (on SDK upgrades too)
