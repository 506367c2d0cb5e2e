"""How a LangGraph thread's checkpoints sit in its session: keys of the session's state.

A thread is a session (its id is the thread id). The root graph's ``messages`` channel is the
session's messages, each stored once as an entry; everything else is a key of the session's
key-value state, one key per thing, so a write adds keys and never rewrites what is stored:

* ``langgraph:["cp", ns, id]``: a checkpoint without its channel values: ``{"parent": id or
  None, "versions": channel_versions, "checkpoint": the other fields, "metadata": ...}``;
* ``langgraph:["blob", ns, channel, version]``: a channel's value at one version, as LangGraph's
  serde writes it (``{"t": type, "b": base64}``; ``{}`` for a channel emptied), or, for the root
  ``messages`` channel, a **layout**: ``{"head": entry id, "depth": its depth, "runs": [[lo,
  hi], ...]}``: the entries of the path to ``head`` that the graph's state holds, in the state's
  order, as runs of depths (one run for a conversation never trimmed: constant size);
* ``langgraph:["w", ns, checkpoint id, task id, idx]``: a pending write ``[channel, value,
  task_path]``;
* ``langgraph:["exact", entry id]``: LangGraph's own form of a message its entry cannot hold
  exactly (a tool artifact that is not JSON); the entry keeps the readable form.

Checkpoint fields and metadata are stored as JSON when JSON holds them exactly (so the CLI shows
them), else through the serde: ``{"json": value}`` or ``{"t": type, "b": base64}``.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from pydantic import JsonValue

__all__ = [
    "PREFIX",
    "ThreadState",
    "blob_key",
    "checkpoint_key",
    "compress",
    "decode",
    "decode_any",
    "encode",
    "encode_any",
    "exact_key",
    "expand",
    "is_layout",
    "write_key",
]

PREFIX = "langgraph:"

Version = str | int | float


def _key(*parts: JsonValue) -> str:
    return PREFIX + json.dumps(list(parts), separators=(",", ":"), ensure_ascii=False)


def checkpoint_key(ns: str, checkpoint_id: str) -> str:
    return _key("cp", ns, checkpoint_id)


def blob_key(ns: str, channel: str, version: Version) -> str:
    return _key("blob", ns, channel, version)


def write_key(ns: str, checkpoint_id: str, task_id: str, idx: int) -> str:
    return _key("w", ns, checkpoint_id, task_id, idx)


def exact_key(entry_id: str) -> str:
    return _key("exact", entry_id)


def encode(serde: SerializerProtocol, value: Any) -> dict[str, JsonValue]:
    """A value as LangGraph's serde writes it, in JSON."""
    kind, data = serde.dumps_typed(value)
    return {"t": kind, "b": base64.b64encode(data).decode("ascii")}


def decode(serde: SerializerProtocol, stored: Mapping[str, Any]) -> Any:
    return serde.loads_typed((str(stored["t"]), base64.b64decode(str(stored["b"]))))


def encode_any(serde: SerializerProtocol, value: Any) -> dict[str, JsonValue]:
    """``{"json": value}`` when JSON holds ``value`` exactly (a tuple or a NaN it does not),
    else the serde's form."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return encode(serde, value)
    copy = json.loads(text)  # a copy: LangGraph goes on changing the dicts it put
    if copy == value and _same_types(copy, value):
        return {"json": copy}
    return encode(serde, value)


def _same_types(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return all(_same_types(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return all(_same_types(x, y) for x, y in zip(a, b, strict=True))
    return True


def decode_any(serde: SerializerProtocol, stored: Mapping[str, Any]) -> Any:
    """The value ``encode_any`` stored: a copy, since a loaded checkpoint is changed by the run
    that loads it, and the stored value is cached."""
    return copy.deepcopy(stored["json"]) if "json" in stored else decode(serde, stored)


def is_layout(blob: Mapping[str, Any]) -> bool:
    return "runs" in blob


def compress(depths: Iterable[int]) -> list[list[int]]:
    """Depths as runs ``[lo, hi]`` of consecutive ascending depths."""
    runs: list[list[int]] = []
    for depth in depths:
        if runs and runs[-1][1] + 1 == depth:
            runs[-1][1] = depth
        else:
            runs.append([depth, depth])
    return runs


def expand(runs: Iterable[Iterable[int]]) -> list[int]:
    depths: list[int] = []
    for lo, hi in runs:
        depths.extend(range(lo, hi + 1))
    return depths


@dataclass
class ThreadState:
    """The LangGraph keys of one session's state, parsed."""

    checkpoints: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    blobs: dict[tuple[str, str, Version], dict[str, Any]] = field(default_factory=dict)
    writes: dict[tuple[str, str], dict[tuple[str, int], list[Any]]] = field(default_factory=dict)
    exact: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, state: Mapping[str, Any]) -> ThreadState:
        parsed = cls()
        parsed.apply({k: v for k, v in state.items() if k.startswith(PREFIX)})
        return parsed

    def apply(self, changes: Mapping[str, Any]) -> None:
        """Take in keys as a write sets them (None removes one)."""
        for key, value in changes.items():
            parts = _parts(key)
            kind = parts[0]
            if value is None:
                self.keys.discard(key)
            else:
                self.keys.add(key)
            if kind == "cp":
                _put(self.checkpoints, (parts[1], parts[2]), value)
            elif kind == "blob":
                _put(self.blobs, (parts[1], parts[2], parts[3]), value)
            elif kind == "w":
                writes = self.writes.setdefault((parts[1], parts[2]), {})
                _put(writes, (parts[3], parts[4]), value)
                if not writes:
                    del self.writes[(parts[1], parts[2])]
            elif kind == "exact":
                _put(self.exact, parts[1], value)

    def copy(self) -> ThreadState:
        return ThreadState(
            dict(self.checkpoints),
            dict(self.blobs),
            {k: dict(v) for k, v in self.writes.items()},
            dict(self.exact),
            set(self.keys),
        )

    def ids(self, ns: str) -> list[str]:
        """The checkpoint ids of namespace ``ns``, oldest first."""
        return sorted(cid for (n, cid) in self.checkpoints if n == ns)

    def forget(self, doomed: Iterable[tuple[str, str]]) -> dict[str, None]:
        """The changes that remove checkpoints ``doomed`` (``(ns, id)``), their writes, and the
        blobs no checkpoint left in their namespaces refers to."""
        doomed = set(doomed)
        changes: dict[str, None] = {}
        for ns, cid in doomed:
            changes[checkpoint_key(ns, cid)] = None
            for task_id, idx in self.writes.get((ns, cid), {}):
                changes[write_key(ns, cid, task_id, idx)] = None
        spaces = {ns for ns, _ in doomed}
        used = {
            (ns, channel, version)
            for (ns, cid), record in self.checkpoints.items()
            if ns in spaces and (ns, cid) not in doomed
            for channel, version in record["versions"].items()
        }
        for blob in self.blobs:
            if blob[0] in spaces and blob not in used:
                changes[blob_key(*blob)] = None
        return changes


@functools.lru_cache(maxsize=1 << 16)
def _parts(key: str) -> list[Any]:
    """A key's parts: a thread's state is parsed again whenever another writer moved it, and
    most of its keys were seen before."""
    parts: list[Any] = json.loads(key[len(PREFIX) :])
    return parts


def _put(table: dict[Any, Any], key: Any, value: Any) -> None:
    if value is None:
        table.pop(key, None)
    else:
        table[key] = value
