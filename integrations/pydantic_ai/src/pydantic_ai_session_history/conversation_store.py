"""``HistoryConversationStore``: pydantic-ai's ``ConversationStore`` on a session-history store.

pydantic-ai's ``ConversationStore`` keeps the algorithm (which messages are new, where a
history branches, what a fork shares) and leaves a backend five primitives; this module is those
primitives over the core's tree, so a conversation is an ordinary session:

=======================================  ======================================================
pydantic-ai                              session-history
=======================================  ======================================================
``conversation_id``, ``scope``           the session's id and scope
``ConversationEntry``                    the stored messages of one pydantic-ai message (one
                                         per part, :mod:`.convert`); its ``id`` is the entry id
                                         of the last of them (the others: ``<id>.1``, ``.2``...)
``head_id``, ``branches``                the session's head and its other branches' tips
``forked_from``, ``forked_at``           the session's
``revision``                             ``<revision>-<incarnation>``: the session's revision
                                         (checked in the write's own transaction) and when it
                                         was created (a session deleted and made again under
                                         the same id starts at revision 1 again)
``usage``, ``deferred_tool_requests``    the session's state, key ``pydantic_ai``, written in
                                         the transaction that appends the messages
``updated_at``                           the session's
=======================================  ======================================================

The deferred tool requests are stored with the head they were made at and read only while the
head is still there: a branch away from a paused run drops them without a write of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from pydantic import JsonValue, TypeAdapter
from pydantic_ai.conversation import Conversation
from pydantic_ai.conversation_store import (
    ConversationConflict,
    ConversationEntry,
    ConversationRecord,
    ConversationStore,
)
from pydantic_ai.exceptions import UserError
from pydantic_ai.tools import DeferredToolRequests
from pydantic_ai.usage import RunUsage

from session_history import (
    Branch,
    ChatMessage,
    InvalidQueryError,
    RevisionConflictError,
    Session,
    SessionExistsError,
    SessionHistory,
    SessionNotFoundError,
    SessionSummary,
    SyncSessionHistory,
)

from .convert import read_entries, to_chat_messages
from .history import DEFAULT_AGENT, model_name
from .usage import usage_of

__all__ = ["STATE_KEY", "HistoryConversationStore"]

STATE_KEY = "pydantic_ai"
"""The key of the session's state that holds a conversation's usage and deferred tool requests."""

_USAGE: TypeAdapter[RunUsage] = TypeAdapter(RunUsage)
_DEFERRED: TypeAdapter[DeferredToolRequests] = TypeAdapter(DeferredToolRequests)
_REMEMBERED = 1024
"""How many heads and entries the store remembers the session of (see ``_holders``)."""


class HistoryConversationStore(ConversationStore):
    """A pydantic-ai ``ConversationStore`` that keeps each conversation as a session of a
    session-history store, on SQLite or PostgreSQL: durable, searchable, and shown by the
    ``session-history`` CLI like any other session.

    Use it where pydantic-ai takes a store: ``store.load``/``store.save`` around
    ``agent.run(conversation=...)``, and the UI adapters' ``conversation_store=``.

    Every write is checked against the conversation's revision inside the database
    transaction that makes it, so of two writers that loaded the same revision (in two
    processes, say) exactly one save lands and the other gets ``ConversationConflict``. A save
    appends its messages, usage and deferred tool requests in one transaction.

    ``delete`` deletes the session and every entry no other conversation reaches (its own
    messages); entries a fork shares stay stored for the fork.

    Not supported: ``update`` (a title or metadata; it raises ``NotImplementedError``), since
    the core cannot yet write without changing the session's revision.

    Args:
        history: An open ``SessionHistory`` or ``SyncSessionHistory``.
        agent_name: Recorded on the sessions this store creates.
    """

    def __init__(
        self, history: SessionHistory | SyncSessionHistory, *, agent_name: str = DEFAULT_AGENT
    ) -> None:
        self.history = history.history if isinstance(history, SyncSessionHistory) else history
        self.agent_name = agent_name
        # The session whose current path holds an entry, for ``read_history``, which is given
        # only the entry: the ones this store read or wrote last. Sound since an entry's path
        # never changes, whichever session's path holds it; a session whose head moved away
        # since reads as the entry gone (LookupError), which the ABC handles.
        self._holders: OrderedDict[str, str] = OrderedDict()
        # The head at each (conversation, revision token) read or written: a revision names one
        # state of a session, so a save can skip reading the head the load read just before.
        self._heads: OrderedDict[tuple[str, str], str | None] = OrderedDict()

    def __repr__(self) -> str:
        return f"<HistoryConversationStore on {self.history!r}>"

    # -- the primitives ------------------------------------------------------------------------

    async def read_record(self, conversation_id: str) -> ConversationRecord | None:
        summary = await self.history.get_summary(conversation_id)
        if summary is None:
            return None
        state = await self.history.load_state(conversation_id)
        return self._record(summary, state, await self.history.list_branches(conversation_id))

    async def read_records(
        self, *, scope: str | None = None, limit: int | None = None
    ) -> Sequence[ConversationRecord]:
        summaries = await self.history.list_sessions(scope=scope, limit=limit)
        # Reads of state and branches per session: a listing has neither (a core piece to ask
        # for).
        states = await asyncio.gather(*(self.history.load_state(s.id) for s in summaries))
        branches = await asyncio.gather(*(self.history.list_branches(s.id) for s in summaries))
        return [self._record(*row) for row in zip(summaries, states, branches, strict=True)]

    async def read_history(
        self, head_id: str | None, *, limit: int | None = None
    ) -> list[ConversationEntry]:
        """The entries up to ``head_id``, in one query (more only when the last ``limit``
        messages are split into more stored messages than a first guess reads)."""
        if head_id is None or limit == 0:
            return []
        session_id = self._holders.get(head_id)
        if session_id is None:
            raise LookupError(f"entry {head_id!r} is not on a conversation this store read")
        last = None if limit is None else 3 * limit + 4  # a message is 1 to 3 stored ones, often
        while True:
            chats = await self.history.load_messages(session_id, last=last)
            whole = last is None or len(chats) < last
            end = _position(chats, head_id)
            if end is not None:
                entries = self._entries(session_id, chats[: end + 1], whole=whole)
                if whole or (limit is not None and len(entries) >= limit):
                    return entries if limit is None else entries[-limit:]
            elif whole:
                raise LookupError(f"entry {head_id!r} is no longer on conversation {session_id!r}")
            assert last is not None
            last *= 2

    async def read_entry(self, entry_id: str) -> ConversationEntry:
        return (await self.read_history(entry_id, limit=1))[-1]

    async def write_record(
        self,
        record: ConversationRecord,
        *,
        new_entries: Sequence[ConversationEntry] = (),
        expected_revision: str | None,
    ) -> None:
        """Store the record and its new entries, checked against ``expected_revision`` in the
        database; ``record.revision`` becomes the token of the revision written (pydantic-ai
        reads it from the record it passed)."""
        conversation_id = record.conversation_id
        try:
            if expected_revision is None:
                revision = await self._create(record, new_entries)
            else:
                revision = await self._update(record, new_entries, expected_revision)
        except (
            RevisionConflictError,
            SessionExistsError,
            SessionNotFoundError,
            InvalidQueryError,
        ) as exc:
            # Changed, made or deleted since it was read, or the entry the record continues
            # from was released by a concurrent delete: pydantic-ai's conflict.
            raise ConversationConflict(conversation_id) from exc
        record.revision = revision
        self._remember(conversation_id, revision, record.head_id)

    async def delete_record(self, conversation_id: str, *, expected_revision: str) -> None:
        """Delete the session and the entries no other conversation reaches: its own messages
        go, the ones a fork shares stay stored for the fork.

        The revision is compared before the delete, not in its transaction (the core's
        ``delete_session`` takes no ``expected_revision`` yet): a save that lands in between
        is deleted with the conversation.
        """
        summary = await self.history.get_summary(conversation_id)
        if summary is None or _token(summary) != expected_revision:
            raise ConversationConflict(conversation_id)
        await self.history.delete_session(conversation_id)

    # -- what the core does in one step -------------------------------------------------------

    async def branch(
        self,
        conversation_id: str,
        *,
        at: int | None = None,
        from_entry: str | None = None,
        expected_revision: str | None,
        scope: str | None = None,
    ) -> Conversation:
        """pydantic-ai's ``branch``; to an entry (``from_entry``), the core's own branch, which
        finds the entry on any of the conversation's branches in the database."""
        if from_entry is None or at is not None:
            return await super().branch(
                conversation_id,
                at=at,
                from_entry=from_entry,
                expected_revision=expected_revision,
                scope=scope,
            )
        record = await self._in_scope(conversation_id, scope)
        if record.revision != expected_revision:
            raise ConversationConflict(conversation_id)
        if from_entry != record.head_id:  # the head already: only the revision changes
            revision = _parse(expected_revision)
            try:
                await self.history.branch_session(
                    conversation_id,
                    from_entry=_entry(from_entry, conversation_id),
                    expected_revision=revision[0] if revision else -1,
                )
            except InvalidQueryError as exc:
                raise _not_in_history(from_entry, conversation_id) from exc
            except (RevisionConflictError, SessionNotFoundError) as exc:
                raise ConversationConflict(conversation_id) from exc
        else:
            await self.write_record(record, expected_revision=expected_revision)
        return await self._loaded(conversation_id)

    async def fork(
        self,
        conversation_id: str,
        *,
        at: int | None = None,
        from_entry: str | None = None,
        new_conversation_id: str | None = None,
        scope: str | None = None,
        source_scope: str | None = None,
    ) -> Conversation:
        """pydantic-ai's ``fork``; from an entry (``from_entry``), the core's own fork, which
        finds the entry on any of the conversation's branches in the database."""
        if from_entry is None or at is not None:
            return await super().fork(
                conversation_id,
                at=at,
                from_entry=from_entry,
                new_conversation_id=new_conversation_id,
                scope=scope,
                source_scope=source_scope,
            )
        record = await self._in_scope(conversation_id, source_scope)
        fork_id = new_conversation_id if new_conversation_id is not None else str(uuid.uuid4())
        try:
            summary = await self.history.fork_session(
                conversation_id,
                fork_id,
                from_entry=_entry(from_entry, conversation_id),
                scope=scope,
                source_scope=source_scope,
            )
        except SessionExistsError as exc:
            raise ConversationConflict(fork_id) from exc
        except SessionNotFoundError as exc:
            raise _not_in_store(conversation_id) from exc
        except InvalidQueryError as exc:
            raise _not_in_history(from_entry, conversation_id) from exc
        if from_entry == record.head_id:  # the whole history: its usage and requests too
            whole = ConversationRecord(
                conversation_id=fork_id,
                head_id=from_entry,
                usage=record.usage,
                deferred_tool_requests=record.deferred_tool_requests,
            )
            await self.history.set_state(fork_id, _state(whole), expected_revision=summary.revision)
        return await self._loaded(fork_id)

    # -- writing -------------------------------------------------------------------------------

    async def _create(
        self, record: ConversationRecord, new_entries: Sequence[ConversationEntry]
    ) -> str:
        conversation_id = record.conversation_id
        attach = new_entries[0].parent_id if new_entries else record.head_id
        if attach is None and record.forked_from is None:
            messages = [entry.message for entry in new_entries]
            chats = _chats(new_entries)
            await self.history.create_session(
                Session(
                    session_id=conversation_id,
                    agent_name=self.agent_name,
                    model=model_name(messages),
                    messages=chats,
                    usage=usage_of(None, messages),
                    scope=record.scope,
                    state=_state(record),
                )
            )
            created = await self.history.get_summary(conversation_id)
            if created is None:  # deleted as soon as it was made
                raise ConversationConflict(conversation_id)
            return _token(created, revision=1)
        if record.forked_from is None:
            if await self.history.get_summary(conversation_id) is not None:
                raise ConversationConflict(conversation_id)
            raise UserError(
                f"conversation {conversation_id!r} is new but continues entry {attach!r}: a "
                "new conversation starts from no entry, or is a fork (give forked_from)"
            )
        summary = await self.history.fork_session(
            record.forked_from,
            conversation_id,
            at=0 if attach is None else None,
            from_entry=attach,
            scope=record.scope,
        )
        return await self._continue(record, new_entries, summary.revision, _incarnation(summary))

    async def _update(
        self,
        record: ConversationRecord,
        new_entries: Sequence[ConversationEntry],
        expected_revision: str,
    ) -> str:
        conversation_id = record.conversation_id
        parsed = _parse(expected_revision)
        if parsed is None:
            raise ConversationConflict(conversation_id)
        revision, incarnation = parsed
        key = (conversation_id, expected_revision)
        if key in self._heads:
            head = self._heads[key]
        else:
            summary = await self.history.get_summary(conversation_id)
            if summary is None or _token(summary) != expected_revision:
                raise ConversationConflict(conversation_id)
            head = summary.head
        attach = new_entries[0].parent_id if new_entries else record.head_id
        if attach != head:
            # A rewritten history (or a branch): the head moves back, the rest stays a branch.
            # Not in the append's transaction: the core has no append-after-entry yet.
            moved = await self.history.branch_session(
                conversation_id,
                at=0 if attach is None else None,
                from_entry=attach,
                expected_revision=revision,
            )
            revision = moved.revision
        return await self._continue(record, new_entries, revision, incarnation)

    async def _continue(
        self,
        record: ConversationRecord,
        new_entries: Sequence[ConversationEntry],
        revision: int,
        incarnation: str,
    ) -> str:
        """Append the new entries after the head, with the record's state, in one transaction
        checked against ``revision``; or, with none, write the state alone."""
        conversation_id = record.conversation_id
        if new_entries:
            messages = [entry.message for entry in new_entries]
            await self.history.append_messages(
                conversation_id,
                _chats(new_entries),
                usage=usage_of(None, messages),
                expected_revision=revision,
                state=_state(record),
            )
            return f"{revision + 1}-{incarnation}"
        summary = await self.history.set_state(
            conversation_id, _state(record), expected_revision=revision
        )
        return _token(summary)

    # -- reading -------------------------------------------------------------------------------

    def _record(
        self,
        summary: SessionSummary,
        state: dict[str, JsonValue] | None,
        branches: Sequence[Branch] | None,
    ) -> ConversationRecord:
        ours = (state or {}).get(STATE_KEY)
        usage, deferred = RunUsage(), None
        if isinstance(ours, dict):
            if isinstance(text := ours.get("usage"), str):
                usage = _USAGE.validate_json(text)
            text = ours.get("deferred")
            if isinstance(text, str) and ours.get("at") == summary.head:
                deferred = _DEFERRED.validate_json(text)
        token = _token(summary)
        self._remember(summary.id, token, summary.head)
        return ConversationRecord(
            conversation_id=summary.id,
            head_id=summary.head,
            usage=usage,
            deferred_tool_requests=deferred,
            scope=summary.scope,
            forked_from=summary.forked_from,
            forked_at=summary.forked_at,
            # Oldest first, as pydantic-ai orders the branches left: the core's order.
            branches=[b.tip for b in branches or () if not b.current and b.tip is not None],
            revision=token,
            updated_at=summary.updated_at,
        )

    def _entries(
        self, session_id: str, chats: Sequence[ChatMessage], *, whole: bool
    ) -> list[ConversationEntry]:
        """The entries of a path's last ``chats`` (all of it when ``whole``). Unless whole,
        the first message read may have lost its first stored messages to the window: it only
        names the entry the next one follows."""
        pairs = read_entries(chats)
        parent: str | None = None
        if not whole:
            if not pairs:
                return []
            parent = chats[pairs[0][1]].entry_id
            pairs = pairs[1:]
        entries: list[ConversationEntry] = []
        for message, end in pairs:
            entry_id = chats[end].entry_id
            assert entry_id is not None  # every message read from the store has one
            entries.append(ConversationEntry(id=entry_id, parent_id=parent, message=message))
            parent = entry_id
        if entries and entries[0].parent_id is not None:
            self._hold(entries[0].parent_id, session_id)
        return entries

    async def _in_scope(self, conversation_id: str, scope: str | None) -> ConversationRecord:
        record = await self.read_record(conversation_id)
        if record is None or (scope is not None and record.scope != scope):
            raise _not_in_store(conversation_id)
        return record

    async def _loaded(self, conversation_id: str) -> Conversation:
        loaded = await self.load(conversation_id)
        if loaded is None:  # deleted right after the write
            raise ConversationConflict(conversation_id)
        return loaded

    def _remember(self, conversation_id: str, token: str, head: str | None) -> None:
        self._heads[(conversation_id, token)] = head
        self._heads.move_to_end((conversation_id, token))
        if len(self._heads) > _REMEMBERED:
            self._heads.popitem(last=False)
        if head is not None:
            self._hold(head, conversation_id)

    def _hold(self, entry_id: str, session_id: str) -> None:
        self._holders[entry_id] = session_id
        self._holders.move_to_end(entry_id)
        if len(self._holders) > _REMEMBERED:
            self._holders.popitem(last=False)


def _chats(entries: Sequence[ConversationEntry]) -> list[ChatMessage]:
    return to_chat_messages(
        [entry.message for entry in entries], entry_ids=[entry.id for entry in entries]
    )


def _state(record: ConversationRecord) -> dict[str, JsonValue]:
    # As JSON text: a tool call's arguments may hold numbers PostgreSQL's jsonb would rewrite.
    deferred = record.deferred_tool_requests
    return {
        STATE_KEY: {
            "usage": _USAGE.dump_json(record.usage).decode(),
            "deferred": _DEFERRED.dump_json(deferred).decode() if deferred is not None else None,
            "at": record.head_id,
        }
    }


def _incarnation(summary: SessionSummary) -> str:
    return f"{round(summary.started_at.timestamp() * 1_000_000):x}"


def _token(summary: SessionSummary, *, revision: int | None = None) -> str:
    return f"{summary.revision if revision is None else revision}-{_incarnation(summary)}"


def _parse(token: str | None) -> tuple[int, str] | None:
    revision, _, incarnation = (token or "").partition("-")
    return (int(revision), incarnation) if revision.isdigit() and incarnation else None


def _position(chats: Sequence[ChatMessage], entry_id: str) -> int | None:
    for at in range(len(chats) - 1, -1, -1):
        if chats[at].entry_id == entry_id:
            return at
    return None


def _entry(entry_id: Any, conversation_id: str) -> str:
    if not isinstance(entry_id, str) or not entry_id:
        raise _not_in_history(entry_id, conversation_id)
    return entry_id


def _not_in_store(conversation_id: str) -> UserError:
    return UserError(f"Conversation {conversation_id!r} is not in the store.")


def _not_in_history(entry_id: object, conversation_id: str) -> UserError:
    return UserError(
        f"Entry {entry_id!r} is not in the history of conversation {conversation_id!r} or a "
        "branch it left."
    )
