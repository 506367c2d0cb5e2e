"""``AdvancedSQLiteSession``'s branches and turns, on the session's tree.

Names, arguments, return shapes and ``ValueError`` messages are the SDK's (0.24), so code written
for ``AdvancedSQLiteSession`` runs unchanged; how they are kept is in :mod:`.layout`.
"""

from __future__ import annotations

import time
from typing import Any

import agents._debug as _debug
from agents import TResponseInputItem

from ._door import Door
from .convert import to_items
from .layout import BRANCHES_KEY, MAIN, USAGE_KEY, View, stamp
from .structure import (
    conversation_by_turns,
    is_user,
    matching_turns,
    tool_usage,
    turn_count,
    turn_records,
)

__all__ = ["Branches"]


class Branches(Door):
    """The branch and turn methods of ``HistorySession``."""

    async def _stamped_items(self, view: View) -> tuple[list[TResponseInputItem], list[str | None]]:
        """The head branch's items, each with the time its message was stored."""
        items: list[TResponseInputItem] = []
        stamps: list[str | None] = []
        for message in await self._head_messages(view):
            for item in to_items(message):
                items.append(item)
                stamps.append(stamp(message.timestamp) if message.timestamp else None)
        view.head_turns = turn_count(items)
        return items, stamps

    # -- creating, switching, deleting -----------------------------------------------------------

    async def create_branch_from_turn(
        self, turn_number: int, branch_name: str | None = None
    ) -> str:
        """Create a branch holding the current branch's items before user turn ``turn_number``,
        and make it the current branch.

        Args:
            turn_number: The turn (1 for the first user message) the new branch replaces.
            branch_name: The new branch's id; generated (``branch_from_turn_{n}_{unix time}``,
                with ``_2``, ``_3``... when taken) when None. An id is never used twice in a
                session, even once its branch is deleted or the session cleared.

        Returns:
            The new branch's id.

        Raises:
            ValueError: no user message at that turn, a blank ``branch_name``, or one used
                before (the SDK's messages).
        """
        if branch_name is not None and not branch_name.strip():
            raise ValueError("Branch name cannot be empty")
        source = self._current

        async def create(view: View) -> tuple[str, Any]:
            nonlocal source
            source = self._current  # as the view read now has it (a clear elsewhere: main)
            at = None
            if view.revision is not None and view.length(source):
                await self._head_on(view, source)
                items = await self._head_items(view, None)
                view.head_turns = turn_count(items)
                at = _position_of_turn(items, turn_number)
            if at is None:
                raise ValueError(
                    f"Turn {turn_number} does not contain a user message in branch '{source}'"
                )
            name = _new_name(view.used, branch_name, turn_number)
            content = items[at].get("content", "")
            # Message positions, not item positions: a message written outside the SDK may
            # stand for several items.
            depth = await self._depth_of_item(view, items, at)
            left = view.record(source)
            left.update(
                tip=view.head_tip,
                length=view.head_length,
                turns=view.head_turns,
                shared_below=max(int(left["shared_below"]), depth),
            )
            made = view.record(name)
            made.update(length=depth, turns=turn_number - 1, shared_below=depth)
            view.used.append(name)
            view.head = name
            summary = await self.history.set_state(
                self.session_id, {BRANCHES_KEY: view.layout()}, expected_revision=view.revision
            )
            view.revision = summary.revision
            summary = await self.history.branch_session(
                self.session_id, at=depth, expected_revision=view.revision
            )
            view.adopt(summary)
            view.head_turns = turn_number - 1
            return name, content

        async with self._lock:
            name, content = await self._retrying(create, read=False)
            self._current = name
        preview = (
            content[:50] + "..." if isinstance(content, str) and len(content) > 50 else content
        )
        if _debug.DONT_LOG_MODEL_DATA:
            self._logger.debug(
                "Created branch '%s' from turn %s in '%s'", name, turn_number, source
            )
        else:
            self._logger.debug(
                "Created branch '%s' from turn %s ('%s') in '%s'",
                name,
                turn_number,
                preview,
                source,
            )
        return name

    async def _depth_of_item(self, view: View, items: list[TResponseInputItem], at: int) -> int:
        if len(items) == view.head_length:
            return at  # one message per item, as the SDK stores them
        depth = 0
        count = 0
        for message in await self._head_messages(view):
            if count >= at:
                break
            count += len(to_items(message))
            depth += 1
        return depth

    async def create_branch_from_content(
        self, search_term: str, branch_name: str | None = None
    ) -> str:
        """Create a branch from the first user turn whose text holds ``search_term``
        (:meth:`create_branch_from_turn`).

        Raises:
            ValueError: no user turn holds it, or ``branch_name`` is blank or used before.
        """
        found = await self.find_turns_by_content(search_term)
        if not found:
            raise ValueError(f"No user turns found containing '{search_term}'")
        return await self.create_branch_from_turn(found[0]["turn"], branch_name)

    async def switch_to_branch(self, branch_id: str) -> None:
        """Make ``branch_id`` this session object's current branch.

        Raises:
            ValueError: the branch holds no item (or never existed).
        """
        async with self._lock:
            view = await self._sync()
            if view.length(branch_id) == 0:
                raise ValueError(f"Branch '{branch_id}' does not exist")
            old, self._current = self._current, branch_id
        self._logger.info("Switched from branch '%s' to '%s'", old, branch_id)

    async def delete_branch(self, branch_id: str, force: bool = False) -> None:
        """Delete a branch: its own items, and its turns' usage. Items another branch holds
        stay. The id stays used (no branch gets it again).

        Args:
            branch_id: The branch to delete.
            force: Allow deleting the current branch (this session object goes to ``main``).

        Raises:
            ValueError: ``main``, a blank id, a branch that does not exist, or the current
                branch without ``force`` (the SDK's messages).
        """
        if not branch_id or not branch_id.strip():
            raise ValueError("Branch ID cannot be empty")
        if branch_id == MAIN:
            raise ValueError("Cannot delete the 'main' branch")
        if branch_id == self._current:
            if not force:
                raise ValueError(
                    f"Cannot delete current branch '{branch_id}'. Use force=True or switch "
                    "branches first"
                )
            if not any(b["branch_id"] == branch_id for b in await self.list_branches()):
                raise ValueError(f"Branch '{branch_id}' does not exist")
            await self.switch_to_branch(MAIN)

        async def delete(view: View) -> None:
            if view.revision is None or view.length(branch_id) == 0:
                raise ValueError(f"Branch '{branch_id}' does not exist")
            record = view.record(branch_id)
            own = view.length(branch_id) - int(record["shared_below"])
            if own > 0:
                await self._head_on(view, branch_id)
                popped = await self.history.pop_messages(
                    self.session_id, own, expected_revision=view.revision
                )
                view.revision += bool(popped)
            view.branches.pop(branch_id, None)
            view.usage.pop(branch_id, None)
            moving = view.head == branch_id
            main = view.record(MAIN)
            if moving:
                view.head = MAIN
            summary = await self.history.set_state(
                self.session_id,
                {BRANCHES_KEY: view.layout(), USAGE_KEY: view.usage_value()},
                expected_revision=view.revision,
            )
            view.adopt(summary)
            if moving:
                target = {"at": 0} if main["tip"] is None else {"from_entry": main["tip"]}
                summary = await self.history.branch_session(
                    self.session_id, expected_revision=view.revision, **target
                )
                view.adopt(summary)
                view.head_turns = int(main["turns"])

        async with self._lock:
            await self._retrying(delete, read=False)
        self._logger.info("Deleted branch '%s'", branch_id)

    # -- reading ---------------------------------------------------------------------------------

    async def list_branches(self) -> list[dict[str, Any]]:
        """The branches that hold items, oldest first: ``branch_id``, ``message_count``,
        ``user_turns``, ``is_current`` and ``created_at``, as ``AdvancedSQLiteSession``'s."""
        async with self._lock:
            view = await self._retrying(self._sync_view, read=True)
            if view.revision is not None and view.head_turns is None and view.head_length:
                view.head_turns = turn_count(await self._head_items(view, None))
            found = []
            for name in view.names():
                length = view.length(name)
                if length == 0:
                    continue
                record = view.record(name)
                turns = view.head_turns if name == view.head else record["turns"]
                found.append(
                    {
                        "branch_id": name,
                        "message_count": length,
                        "user_turns": turns,
                        "is_current": name == self._current,
                        "created_at": record["created_at"],
                    }
                )
            return found

    async def _sync_view(self, view: View) -> View:
        return view

    async def get_conversation_turns(self, branch_id: str | None = None) -> list[dict[str, Any]]:
        """The branch's user turns: ``turn``, ``content`` (cut to 100 characters),
        ``full_content``, ``timestamp`` and ``can_branch``."""

        async def read(view: View) -> list[dict[str, Any]]:
            return turn_records(*await self._stamped_items(view))

        return await self._branch_read(branch_id, read, [])

    async def find_turns_by_content(
        self, search_term: str, branch_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The branch's user turns whose text holds ``search_term`` (ASCII letters matched in
        either case, as the SDK's ``LIKE``), as :meth:`get_conversation_turns` gives them."""

        async def read(view: View) -> list[dict[str, Any]]:
            return matching_turns(*await self._stamped_items(view), search_term)

        return await self._branch_read(branch_id, read, [])

    async def get_conversation_by_turns(
        self, branch_id: str | None = None
    ) -> dict[int, list[dict[str, str | None]]]:
        """The branch's items by turn: ``{turn: [{"type": ..., "tool_name": ...}, ...]}``."""

        async def read(view: View) -> dict[int, list[dict[str, str | None]]]:
            return conversation_by_turns(await self._head_items(view, None))

        return await self._branch_read(branch_id, read, {})

    async def get_tool_usage(self, branch_id: str | None = None) -> list[tuple[str, int, int]]:
        """``(tool_name, usage_count, turn_number)`` for each tool used in each turn."""

        async def read(view: View) -> list[tuple[str, int, int]]:
            return tool_usage(await self._head_items(view, None))

        return await self._branch_read(branch_id, read, [])


def _position_of_turn(items: list[TResponseInputItem], turn_number: int) -> int | None:
    """The index of the user message that starts turn ``turn_number``."""
    seen = 0
    for index, item in enumerate(items):
        if is_user(item):
            seen += 1
            if seen == turn_number:
                return index
    return None


def _new_name(used: list[str], given: str | None, turn_number: int) -> str:
    if given is not None:
        if given in used or given == MAIN:
            raise ValueError(f"Branch ID '{given}' has already been used. Choose a new branch ID.")
        return given
    base = f"branch_from_turn_{turn_number}_{int(time.time())}"
    name, suffix = base, 1
    while name in used:
        suffix += 1
        name = f"{base}_{suffix}"
    return name
