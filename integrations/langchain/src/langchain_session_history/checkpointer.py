"""``SessionCheckpointer``: a LangGraph checkpointer whose threads are sessions.

LangGraph's own savers store the whole ``messages`` channel again at every step, so a thread
grows with the square of its length. Here the root graph's messages are the session's messages,
each stored once as an entry (readable by every door, the CLI and search); a checkpoint stores
where that channel stands: the head entry and which entries of the path to it the state holds
(a trim by ``RemoveMessage`` takes a message out of the state, not out of the record). Time
travel (a checkpoint put after an older one) branches the session at the older checkpoint's
head, the newer branch kept. Everything else (the other channels as LangGraph's serde writes
them, checkpoint fields, metadata, pending writes) is keys of the session's state, laid out in
:mod:`._thread_state`; each ``put`` is one transaction: its new messages and its keys.

Reads are kept cheap by two caches, neither of which can go stale: the parsed state of a thread
is reused while the session's revision is the one it was read (or written) at; and a layout's
messages, once built, are reused for that layout (a layout never changes, and entry ids are
unique), which also lets a ``put`` recognise the messages of its parent by identity.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, ToolMessage, message_to_dict
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    copy_checkpoint,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.base import writes_sort_key as _writes_sort_key
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.serde.base import SerializerProtocol
from pydantic import JsonValue

from session_history import (
    ChatMessage,
    InvalidQueryError,
    RevisionConflictError,
    Session,
    SessionHistory,
    SessionNotFoundError,
    SessionSummary,
    SyncSessionHistory,
    run_sync,
)

from . import _thread_state as ts
from .convert import from_chat_message, to_chat_message, usage_of

__all__ = ["SessionCheckpointer"]

MESSAGES = "messages"
"""The channel kept as the session's messages (in the root namespace, when it holds messages)."""

_RETRIES = 8
_LAYOUTS_CACHED = 256


class SessionCheckpointer(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer on a session-history store: every thread is a session.

    Use it where LangGraph takes a checkpointer: ``graph.compile(checkpointer=...)``,
    ``create_agent(..., checkpointer=...)``. The sync methods (``invoke``, ``get_state``,
    ``get_state_history``) and the async ones (``ainvoke``, ``astream``...) both work, whichever
    door the store was opened with, from any thread.

    Args:
        history: An open ``SessionHistory`` or ``SyncSessionHistory`` (SQLite or PostgreSQL).
        keep: Keep only the newest ``keep`` checkpoints of each thread (and namespace): time
            travel beyond them is gone, the conversation's messages are not. None keeps all.
        agent_name: The agent name of the sessions this checkpointer creates.
        model: The model recorded on the sessions it creates.
        serde: LangGraph's serializer for the other channels (its default when None).
    """

    def __init__(
        self,
        history: SessionHistory | SyncSessionHistory,
        *,
        keep: int | None = None,
        agent_name: str = "langgraph",
        model: str = "unknown",
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(serde=serde)
        self.history = history.history if isinstance(history, SyncSessionHistory) else history
        if not self.history.is_enabled:
            raise InvalidQueryError(
                "SessionCheckpointer needs an enabled store; open it with "
                "HistoryConfig(enabled=True) or a database path"
            )
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
            raise InvalidQueryError(f"keep must be a count of at least 1 or None, not {keep!r}")
        self.keep = keep
        self.agent_name = agent_name
        self.model = model
        self._lock = threading.Lock()
        self._writing: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()
        self._states: dict[str, tuple[int, ts.ThreadState]] = {}
        self._layouts: OrderedDict[tuple[str, str], list[tuple[str, BaseMessage]]] = OrderedDict()

    def __repr__(self) -> str:
        return f"<SessionCheckpointer on {self.history!r}>"

    # -- reads -------------------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint ``config`` names (its ``checkpoint_id``), or the thread's latest."""
        thread_id, ns = _thread(config), _ns(config)
        summary, state = await self._read(thread_id)
        if state is None:
            return None
        checkpoint_id = get_checkpoint_id(config)
        if checkpoint_id is None:
            ids = state.ids(ns)
            if not ids:
                return None
            checkpoint_id = ids[-1]
        elif (ns, checkpoint_id) not in state.checkpoints:
            return None
        reader = _Reader(self, thread_id, summary, state)
        return await reader.checkpoint_tuple(ns, checkpoint_id)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Checkpoints, newest first: of ``config``'s thread (and namespace, and checkpoint,
        when it names them), else of every thread; ``filter`` matches metadata values."""
        for item in await self._list(config, filter, before, limit):
            yield item

    async def _list(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> list[CheckpointTuple]:
        wanted = config.get("configurable", {}) if config else {}
        threads = [str(wanted["thread_id"])] if "thread_id" in wanted else await self._threads()
        ns_wanted, id_wanted = wanted.get("checkpoint_ns"), wanted.get("checkpoint_id")
        before_id = get_checkpoint_id(before) if before else None
        found: list[tuple[str, _Reader, str, str]] = []
        for thread_id in threads:
            summary, state = await self._read(thread_id)
            if state is None:
                continue
            reader = _Reader(self, thread_id, summary, state)
            for (ns, cid), record in state.checkpoints.items():
                if ns_wanted is not None and ns != ns_wanted:
                    continue
                if (id_wanted and cid != id_wanted) or (before_id and cid >= before_id):
                    continue
                if filter and not _matches(reader.metadata(record), filter):
                    continue
                found.append((cid, reader, ns, thread_id))
        found.sort(key=lambda item: (item[0], item[3], item[2]), reverse=True)
        if limit is not None:
            found = found[:limit]
        return [await reader.checkpoint_tuple(ns, cid) for cid, reader, ns, _ in found]

    async def _threads(self) -> list[str]:
        return [summary.id for summary in await self.history.list_sessions()]

    async def _read(self, thread_id: str) -> tuple[SessionSummary | None, ts.ThreadState | None]:
        """The session's summary and its LangGraph keys, parsed again only when the session's
        revision moved since they were last read or written."""
        summary = await self.history.get_summary(thread_id)
        if summary is None:
            self._forget(thread_id)
            return None, None
        with self._lock:
            cached = self._states.get(thread_id)
        if cached is not None and cached[0] == summary.revision:
            return summary, cached[1]
        stored = await self.history.load_state(thread_id)
        if stored is None:
            return None, None
        state = ts.ThreadState.parse(stored)
        with self._lock:
            self._states[thread_id] = (summary.revision, state)
        return summary, state

    def _writer(self, thread_id: str) -> asyncio.Lock:
        """One write at a time to a thread from this saver, per event loop: LangGraph stores a
        task's writes while it puts the next checkpoint, and two writes of one saver would only
        make each other retry. (A lock per loop: an asyncio lock belongs to one loop; writes from
        two loops, or two savers, are kept apart by the session's revision.)"""
        loop = asyncio.get_running_loop()
        with self._lock:
            locks = self._writing.setdefault(loop, {})
            return locks.setdefault(thread_id, asyncio.Lock())

    def _forget(self, thread_id: str) -> None:
        with self._lock:
            self._states.pop(thread_id, None)

    def _wrote(
        self, thread_id: str, before: int | None, after: int, changes: dict[str, Any]
    ) -> None:
        """Record a write of ``changes`` that took the session from revision ``before`` to
        ``after``: the cached state follows when it was the one at ``before``."""
        with self._lock:
            cached = self._states.get(thread_id)
            if cached is None or cached[0] != before:
                self._states.pop(thread_id, None)
                return
            state = cached[1].copy()
            state.apply(changes)
            self._states[thread_id] = (after, state)

    def _layout_cached(self, thread_id: str, key: str) -> list[tuple[str, BaseMessage]] | None:
        with self._lock:
            found = self._layouts.get((thread_id, key))
            if found is not None:
                self._layouts.move_to_end((thread_id, key))
            return found

    def _cache_layout(self, thread_id: str, key: str, items: list[tuple[str, BaseMessage]]) -> None:
        with self._lock:
            self._layouts[(thread_id, key)] = items
            while len(self._layouts) > _LAYOUTS_CACHED:
                self._layouts.popitem(last=False)

    # -- writes ------------------------------------------------------------------------------

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint after ``config``'s: its new messages as entries of the thread's
        session, the rest as state keys, in one transaction."""
        thread_id, ns = _thread(config), _ns(config)
        # LangGraph goes on with the run while a put is under way, changing the dicts it put:
        # take them as they are now, before the first wait.
        checkpoint = copy_checkpoint(checkpoint)
        checkpoint["channel_values"] = {
            k: list(v) if isinstance(v, list) else v
            for k, v in checkpoint["channel_values"].items()
        }
        metadata = copy.deepcopy(metadata)
        new_versions = dict(new_versions)
        for attempt in range(_RETRIES):
            try:
                async with self._writer(thread_id):
                    await self._put(config, checkpoint, metadata, new_versions)
                break
            except RevisionConflictError:
                if attempt == _RETRIES - 1:
                    raise  # the session changed under every attempt: the caller decides
                self._forget(thread_id)  # another writer moved the session: read it again
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def _put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> None:
        thread_id, ns = _thread(config), _ns(config)
        parent_id = get_checkpoint_id(config)
        summary, state = await self._read(thread_id)
        state = state or ts.ThreadState()
        values = checkpoint["channel_values"]
        body = {k: v for k, v in checkpoint.items() if k not in ("channel_values", "id")}
        changes: dict[str, Any] = {
            ts.checkpoint_key(ns, checkpoint["id"]): {
                "parent": parent_id,
                "versions": dict(checkpoint["channel_versions"]),
                "checkpoint": ts.encode_any(self.serde, body),
                "metadata": ts.encode_any(self.serde, get_checkpoint_metadata(config, metadata)),
            }
        }
        fresh: list[ChatMessage] = []
        usage = None
        layout: tuple[str, list[tuple[str, BaseMessage]]] | None = None
        branch_to: tuple[str | None] | None = None
        for channel, version in new_versions.items():
            key = ts.blob_key(ns, channel, version)
            if channel not in values:
                changes[key] = {}
            elif ns == "" and channel == MESSAGES and _is_messages(values[channel]):
                reader = _Reader(self, thread_id, summary, state)
                parent = await reader.messages_of(ns, parent_id)
                blob, items, fresh, exact, head = self._layout(parent, values[channel])
                usage = usage_of(fresh_of(items, fresh))
                changes[key] = blob
                changes.update(exact)
                layout = (ts_layout_key(blob), items)
                if fresh and summary is not None and summary.head != head:
                    branch_to = (head,)
            else:
                changes[key] = ts.encode(self.serde, values[channel])
        if self.keep is not None:
            after = state.copy()
            after.apply(changes)
            ids = after.ids(ns)
            if len(ids) > self.keep:
                after_changes = after.forget((ns, cid) for cid in ids[: -self.keep])
                changes.update(after_changes)
        revision = summary.revision if summary is not None else None
        if branch_to is not None:
            head = branch_to[0]
            moved = await self.history.branch_session(
                thread_id,
                **({"from_entry": head} if head is not None else {"at": 0}),
                expected_revision=revision,
            )
            self._wrote(thread_id, revision, moved.revision, {})
            revision = moved.revision
        await self.history.append_messages(
            thread_id,
            fresh,
            usage=usage,
            create=Session(session_id=thread_id, agent_name=self.agent_name, model=self.model),
            expected_revision=revision,
            state=changes,
        )
        if revision is None:
            self._forget(thread_id)  # created (or found made meanwhile): read it next time
        else:
            self._wrote(thread_id, revision, revision + 1, changes)
        if layout is not None:
            self._cache_layout(thread_id, *layout)

    def _layout(
        self, parent: _Messages | None, messages: list[BaseMessage]
    ) -> tuple[
        dict[str, JsonValue],
        list[tuple[str, BaseMessage]],
        list[ChatMessage],
        dict[str, Any],
        str | None,
    ]:
        """Where ``messages`` stand against the parent checkpoint's: the layout, its messages
        with their entry ids, the new entries, their exact forms, and the head they follow."""
        by_object: dict[int, tuple[int, str]] = {}
        by_id: dict[str, tuple[int, str, BaseMessage]] = {}
        head, depth = (parent.head, parent.depth) if parent is not None else (None, -1)
        if parent is not None:
            for d, (entry_id, message) in zip(parent.depths, parent.items, strict=True):
                by_object[id(message)] = (d, entry_id)
                if message.id is not None:
                    by_id[message.id] = (d, entry_id, message)
        depths: list[int] = []
        items: list[tuple[str, BaseMessage]] = []
        fresh: list[ChatMessage] = []
        exact: dict[str, Any] = {}
        for message in messages:
            hit = by_object.get(id(message))
            if hit is None and message.id in by_id:
                d, entry_id, known = by_id[message.id]
                if message_to_dict(known) == message_to_dict(message):
                    hit = (d, entry_id)
            if hit is None:
                entry_id = str(uuid6())
                stored = to_chat_message(_storable(message)).model_copy(
                    update={"entry_id": entry_id}
                )
                if message_to_dict(from_chat_message(stored)) != message_to_dict(message):
                    exact[ts.exact_key(entry_id)] = ts.encode(self.serde, message)
                fresh.append(stored)
                hit = (depth + len(fresh), entry_id)
            depths.append(hit[0])
            items.append((hit[1], message))
        new_head = fresh[-1].entry_id if fresh else head
        blob: dict[str, JsonValue] = {
            "head": new_head,
            "depth": depth + len(fresh),
            "runs": ts.compress(depths),  # type: ignore[dict-item]
        }
        return blob, items, fresh, exact, head

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes for ``config``'s checkpoint (a write stored already, by task
        and index, is kept as it is)."""
        thread_id, ns = _thread(config), _ns(config)
        checkpoint_id = str(config["configurable"]["checkpoint_id"])
        encoded = {  # now, before the first wait (the run goes on meanwhile)
            WRITES_IDX_MAP.get(channel, idx): [channel, ts.encode(self.serde, value), task_path]
            for idx, (channel, value) in enumerate(writes)
        }
        async with self._writer(thread_id):
            await self._put_writes(thread_id, ns, checkpoint_id, task_id, encoded)

    async def _put_writes(
        self,
        thread_id: str,
        ns: str,
        checkpoint_id: str,
        task_id: str,
        encoded: dict[int, list[Any]],
    ) -> None:
        _, state = await self._read(thread_id)
        changes: dict[str, Any] = {}
        for index, write in encoded.items():
            key = ts.write_key(ns, checkpoint_id, task_id, index)
            if index >= 0 and state is not None and key in state.keys:
                continue
            changes[key] = write
        if not changes:
            return
        with self._lock:
            cached = self._states.get(thread_id)
        try:
            summary = await self.history.set_state(thread_id, changes)
        except SessionNotFoundError:
            await self.history.append_messages(
                thread_id,
                [],
                create=Session(session_id=thread_id, agent_name=self.agent_name, model=self.model),
                state=changes,
            )
            self._forget(thread_id)
            return
        self._wrote(thread_id, cached[0] if cached else None, summary.revision, changes)
        if cached is not None and summary.revision != cached[0] + 1:
            self._forget(thread_id)

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete the thread's session: its checkpoints, writes and messages."""
        await self.history.delete_session(thread_id)
        self._forget(thread_id)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a thread: the target is a fork of the source's session (its messages shared,
        not copied) with all of the source's checkpoints and writes. Nothing happens when the
        source thread does not exist."""
        summary, state = await self._read(source_thread_id)
        if state is None:
            return
        reader = _Reader(self, source_thread_id, summary, state)
        stored = await self.history.load_state(source_thread_id) or {}
        changes = {k: v for k, v in stored.items() if k.startswith(ts.PREFIX)}
        for (ns, channel, version), blob in state.blobs.items():
            if ts.is_layout(blob):
                found = await reader.layout(blob)
                if not found.current:  # off the path the fork shares: keep the value itself
                    value = [message for _, message in found.items]
                    changes[ts.blob_key(ns, channel, version)] = ts.encode(self.serde, value)
        await self.history.fork_session(source_thread_id, target_thread_id)
        await self.history.set_state(target_thread_id, changes)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Prune checkpoints: ``"keep_latest"`` keeps the newest of each namespace, ``"delete"``
        removes all. The threads' messages stay (they are the conversation's record)."""
        if strategy not in ("keep_latest", "delete"):
            raise InvalidQueryError(
                f"prune strategy {strategy!r} is not one of 'keep_latest' and 'delete'"
            )
        for thread_id in thread_ids:
            await self._drop(thread_id, lambda state: _all_but_latest(state, strategy))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) that the runs ``run_ids`` made, in every
        thread."""
        runs = set(run_ids)
        if not runs:
            return
        for thread_id in await self._threads():

            def of_runs(state: ts.ThreadState) -> list[tuple[str, str]]:
                return [
                    key
                    for key, record in state.checkpoints.items()
                    if _Reader.metadata_of(self.serde, record).get("run_id") in runs
                ]

            await self._drop(thread_id, of_runs)

    async def _drop(self, thread_id: str, choose: Any) -> None:
        """Remove the checkpoints ``choose(state)`` names from a thread, in one transaction."""
        async with self._writer(thread_id):
            await self._drop_now(thread_id, choose)

    async def _drop_now(self, thread_id: str, choose: Any) -> None:
        for _ in range(_RETRIES):
            summary, state = await self._read(thread_id)
            if state is None or summary is None:
                return
            doomed = choose(state)
            if not doomed:
                return
            changes: dict[str, JsonValue] = dict(state.forget(doomed))
            try:
                moved = await self.history.set_state(
                    thread_id, changes, expected_revision=summary.revision
                )
            except RevisionConflictError:
                self._forget(thread_id)
                continue
            self._wrote(thread_id, summary.revision, moved.revision, changes)
            return

    def get_next_version(self, current: str | None, channel: None) -> str:
        """A version after ``current``: a counter, then a random part, so that versions made
        on two forks of one thread differ."""
        if current is None:
            number = 0
        elif isinstance(current, int):
            number = current
        else:
            number = int(str(current).split(".")[0])
        return f"{number + 1:032}.{random.random():016}"

    # -- the blocking doors ------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return run_sync(self.aget_tuple, config)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        yield from run_sync(self._list, config, filter, before, limit)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return run_sync(self.aput, config, checkpoint, metadata, new_versions)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        run_sync(self.aput_writes, config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        run_sync(self.adelete_thread, thread_id)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        run_sync(self.acopy_thread, source_thread_id, target_thread_id)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        run_sync(self.aprune, thread_ids, strategy=strategy)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        run_sync(self.adelete_for_runs, run_ids)


class _Messages:
    """A layout's messages: their entry ids and depths, and whether they lie on the session's
    current path."""

    def __init__(
        self,
        head: str | None,
        depth: int,
        depths: list[int],
        items: list[tuple[str, BaseMessage]],
        current: bool,
    ) -> None:
        self.head, self.depth, self.depths, self.items, self.current = (
            head,
            depth,
            depths,
            items,
            current,
        )


class _Reader:
    """Builds checkpoint tuples of one thread as stored at one revision, each message built
    once however many checkpoints hold it."""

    def __init__(
        self,
        saver: SessionCheckpointer,
        thread_id: str,
        summary: SessionSummary | None,
        state: ts.ThreadState,
    ) -> None:
        self.saver, self.thread_id, self.summary, self.state = saver, thread_id, summary, state
        self._tail: tuple[int, list[ChatMessage]] | None = None
        self._paths: dict[str, list[ChatMessage]] = {}
        self._built: dict[str, BaseMessage] = {}

    @staticmethod
    def metadata_of(serde: SerializerProtocol, record: dict[str, Any]) -> dict[str, Any]:
        found = ts.decode_any(serde, record["metadata"])
        return found if isinstance(found, dict) else {}

    def metadata(self, record: dict[str, Any]) -> dict[str, Any]:
        return self.metadata_of(self.saver.serde, record)

    async def checkpoint_tuple(self, ns: str, checkpoint_id: str) -> CheckpointTuple:
        serde = self.saver.serde
        record = self.state.checkpoints[(ns, checkpoint_id)]
        body = ts.decode_any(serde, record["checkpoint"])
        values: dict[str, Any] = {}
        for channel, version in record["versions"].items():
            blob = self.state.blobs.get((ns, channel, version))
            if not blob:  # never stored, or emptied
                continue
            if ts.is_layout(blob):
                found = await self.layout(blob)
                values[channel] = [message for _, message in found.items]
            else:
                values[channel] = ts.decode(serde, blob)
        writes = self.state.writes.get((ns, checkpoint_id), {})
        pending = [
            (task_id, stored[0], ts.decode(serde, stored[1]))
            for (task_id, idx), stored in sorted(
                writes.items(), key=lambda item: _writes_sort_key(item[1][2], *item[0])
            )
        ]
        parent = record["parent"]
        return CheckpointTuple(
            config=_config(self.thread_id, ns, checkpoint_id),
            checkpoint={**body, "id": checkpoint_id, "channel_values": values},  # type: ignore[typeddict-item]
            metadata=self.metadata(record),  # type: ignore[arg-type]
            parent_config=_config(self.thread_id, ns, parent) if parent else None,
            pending_writes=pending,
        )

    async def messages_of(self, ns: str, checkpoint_id: str | None) -> _Messages | None:
        """The messages channel of a checkpoint, when it is stored as a layout."""
        record = self.state.checkpoints.get((ns, checkpoint_id or ""))
        if record is None or MESSAGES not in record["versions"]:
            return None
        blob = self.state.blobs.get((ns, MESSAGES, record["versions"][MESSAGES]))
        if not blob or not ts.is_layout(blob):
            return None
        return await self.layout(blob)

    async def layout(self, blob: dict[str, Any]) -> _Messages:
        head, depth, depths = blob["head"], int(blob["depth"]), ts.expand(blob["runs"])
        key = ts_layout_key(blob)
        cached = self.saver._layout_cached(self.thread_id, key)
        if cached is not None:
            return _Messages(head, depth, depths, list(cached), self._current(head, depth))
        path, current = await self._path(head, depth, min(depths, default=depth))
        items = [(path[d].entry_id or "", self._build(path[d])) for d in depths]
        self.saver._cache_layout(self.thread_id, key, items)
        return _Messages(head, depth, depths, list(items), current)

    def _current(self, head: str | None, depth: int) -> bool:
        return self.summary is not None and head is not None and self.summary.head == head

    async def _path(
        self, head: str | None, depth: int, lowest: int
    ) -> tuple[dict[int, ChatMessage], bool]:
        """The entries of the path to ``head`` from depth ``lowest``, by depth, and whether they
        are on the session's current path."""
        if head is None:
            return {}, True
        history = self.saver.history
        if self.summary is not None and (
            self._tail is None or self._tail[0] > lowest
        ):  # read the current path's end, once, from the lowest depth needed
            count = self.summary.message_count
            last = count - lowest
            if last > 0:
                self._tail = (count - last, await history.load_messages(self.thread_id, last=last))
        if self._tail is not None:
            start, tail = self._tail
            on_tail = start <= lowest and depth - start < len(tail)
            if on_tail and tail[depth - start].entry_id == head:
                return {start + i: m for i, m in enumerate(tail)}, True
        if head not in self._paths:  # on another branch: read it through a fork of its own
            scratch = f"langgraph-read-{uuid.uuid4()}"
            await history.fork_session(self.thread_id, scratch, from_entry=head)
            try:
                self._paths[head] = await history.load_messages(scratch)
            finally:
                await history.delete_session(scratch)
        return dict(enumerate(self._paths[head])), False

    def _build(self, entry: ChatMessage) -> BaseMessage:
        entry_id = entry.entry_id or ""
        built = self._built.get(entry_id)
        if built is None:
            exact = self.state.exact.get(entry_id)
            if exact is not None:
                built = ts.decode(self.saver.serde, exact)
            else:
                built = from_chat_message(entry)
            self._built[entry_id] = built
        return built


def ts_layout_key(blob: dict[str, Any]) -> str:
    """What identifies a layout (the head's id is unique, so this names one list)."""
    return f"{blob['head']}|{blob['depth']}|{blob['runs']}"


def _thread(config: RunnableConfig) -> str:
    try:
        return str(config["configurable"]["thread_id"])
    except KeyError:
        raise InvalidQueryError(
            'a checkpointer needs a thread: pass config={"configurable": {"thread_id": ...}}'
        ) from None


def _ns(config: RunnableConfig) -> str:
    return str(config["configurable"].get("checkpoint_ns", ""))


def _config(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
        }
    }


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(m, BaseMessage) for m in value)


def fresh_of(items: list[tuple[str, BaseMessage]], fresh: list[ChatMessage]) -> list[BaseMessage]:
    """The messages of ``items`` stored as the new entries ``fresh``."""
    new = {m.entry_id for m in fresh}
    return [message for entry_id, message in items if entry_id in new]


def _storable(message: BaseMessage) -> BaseMessage:
    """``message`` with a tool artifact JSON cannot hold replaced by its repr (the exact form
    is kept beside it), so storing it warns of nothing."""
    if isinstance(message, ToolMessage) and message.artifact is not None:
        try:
            json.dumps(message.artifact)
        except (TypeError, ValueError):
            return message.model_copy(update={"artifact": {"__repr__": repr(message.artifact)}})
    return message


def _matches(metadata: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all(metadata.get(key) == value for key, value in wanted.items())


def _all_but_latest(state: ts.ThreadState, strategy: str) -> list[tuple[str, str]]:
    spaces = {ns for ns, _ in state.checkpoints}
    doomed: list[tuple[str, str]] = []
    for ns in spaces:
        ids = state.ids(ns)
        doomed.extend((ns, cid) for cid in (ids if strategy == "delete" else ids[:-1]))
    return doomed
