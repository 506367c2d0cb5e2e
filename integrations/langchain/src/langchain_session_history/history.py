"""``SessionChatMessageHistory``: LangChain's chat message history on a session-history store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage

from session_history import (
    Session,
    SessionHistory,
    SyncSessionHistory,
    run_sync,
)

from . import _shared
from ._shared import Lease
from .convert import from_chat_message, to_chat_message, usage_of

__all__ = ["SessionChatMessageHistory", "append_or_create"]


async def append_or_create(
    history: SessionHistory,
    session_id: str,
    messages: Sequence[BaseMessage],
    *,
    agent_name: str,
    model: str,
) -> None:
    """Append LangChain messages to a session, creating it (with ``agent_name`` and ``model``)
    on the first write, in one transaction, so concurrent first writers lose nothing."""
    await history.append_messages(
        session_id,
        [to_chat_message(m) for m in messages],
        usage=usage_of(messages),
        create=Session(session_id=session_id, agent_name=agent_name, model=model),
    )


class SessionChatMessageHistory(BaseChatMessageHistory):
    """Chat message history kept in a session-history store.

    One session per ``session_id`` (any string), created on the first write with ``agent_name``
    and ``model``. Messages round-trip losslessly (tool calls, usage, metadata, content blocks);
    each write is one transaction, so concurrent writers lose nothing; hooks fire as for any
    other write; and the sessions are listed, searched and exported by the ``session-history``
    CLI like any other.

    The async methods run on the caller's event loop. The sync ones (``messages``,
    ``add_messages``, ``clear``) run the same coroutines on session-history's background loop,
    so they work in plain scripts and when called from inside a running event loop alike.

    ``clear()`` deletes the session, row and messages (firing ``session_history_deleted``); the
    next write creates it afresh.

    Args:
        session_id: The session this history reads and writes.
        history: An open ``SessionHistory`` or ``SyncSessionHistory``.
        agent_name: Recorded on the session when it is created.
        model: Recorded on the session when it is created.
    """

    def __init__(
        self,
        session_id: str,
        history: SessionHistory | SyncSessionHistory,
        *,
        agent_name: str = "langchain",
        model: str = "unknown",
    ) -> None:
        self.session_id = session_id
        self.history = history.history if isinstance(history, SyncSessionHistory) else history
        self.agent_name = agent_name
        self.model = model
        self._lease: Lease | None = None

    @classmethod
    def from_path(
        cls,
        session_id: str,
        db_path: str | Path,
        *,
        agent_name: str = "langchain",
        model: str = "unknown",
        plugins: Sequence[object] = (),
    ) -> SessionChatMessageHistory:
        """A history on the database at ``db_path`` (a file or a ``postgresql://`` URL), for
        code with no store open; fit for a ``RunnableWithMessageHistory`` factory.

        Every history ``from_path`` makes for one database (and the same plugin objects) shares
        one store, opened by the first. ``close()`` (or leaving a ``with`` block) returns this
        history's hold on it, and the last one returned closes the store. Histories never
        closed, as a factory's, keep it open until the interpreter exits, when it is closed,
        or until ``close_shared_stores()``. Nothing leaks, however many are made.

        Args:
            session_id: The session this history reads and writes.
            db_path: A SQLite file (a relative path and its absolute form are one database) or
                a ``postgresql://`` URL.
            agent_name: Recorded on the session when it is created.
            model: Recorded on the session when it is created.
            plugins: Hook plugins of the store; pass the same objects each time (create them
                once), since a store's hooks are fixed when it opens.
        """
        lease = _shared.lease(db_path, plugins)
        chat_history = cls(session_id, lease.store, agent_name=agent_name, model=model)
        chat_history._lease = lease
        return chat_history

    def close(self) -> None:
        """Return this history's hold on a ``from_path`` store (closed with the last one);
        do nothing for a history on a store you opened. Safe to call more than once."""
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the implementation: async --------------------------------------------------------

    async def aget_messages(self) -> list[BaseMessage]:
        """The session's messages, oldest first; [] when the session does not exist yet."""
        messages = await self.history.load_messages(self.session_id)
        return [from_chat_message(m) for m in messages]

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append ``messages`` in one transaction; their AI usage is added to the session's."""
        await append_or_create(
            self.history, self.session_id, messages, agent_name=self.agent_name, model=self.model
        )

    async def aclear(self) -> None:
        """Delete the session and its messages."""
        await self.history.delete_session(self.session_id)

    # -- the sync doors onto it ------------------------------------------------------------

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The session's messages (the blocking door onto ``aget_messages``)."""
        return run_sync(self.aget_messages)

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append ``messages`` (the blocking door onto ``aadd_messages``)."""
        run_sync(self.aadd_messages, messages)

    def clear(self) -> None:
        """Delete the session (the blocking door onto ``aclear``)."""
        run_sync(self.aclear)

    def __repr__(self) -> str:
        return f"<SessionChatMessageHistory {self.session_id!r} on {self.history!r}>"
