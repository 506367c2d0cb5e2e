"""Databases made by the reference design: its one ``session_history`` table, moved into ours.

The reference (a Rust ``SessionStore``) keeps one row per session with every message in one JSON
array. :func:`import_reference_table` runs as a migration step (``m002``): each row becomes a
session row and one row per message, keeping every field; ``updated_at`` is kept, so the listing
order survives.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from ..._codec import message_body
from ..._models import ChatMessage, Usage, message_counts
from ..shared import format_ts

__all__ = ["REFERENCE_TABLE", "import_reference_table"]

REFERENCE_TABLE = "session_history"
"""The single table of the reference design, whose databases we migrate."""


def import_reference_table(conn: sqlite3.Connection) -> None:
    """Move the sessions of a database made by the reference design into our tables.

    The reference keeps one row per session with all messages as one JSON array. Each row becomes
    a session row and one row per message; its updated_at is kept, so listing order survives.
    """
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (REFERENCE_TABLE,)
    ).fetchone()
    if not exists:
        return
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({REFERENCE_TABLE})")}
    usage_column = "usage" if "usage" in columns else "NULL"  # added later by ALTER TABLE
    rows = conn.execute(
        f"SELECT id, agent_name, model, messages, metadata, started_at, updated_at, ended_at, "
        f"turn_count, tool_call_count, {usage_column} FROM {REFERENCE_TABLE} ORDER BY rowid"
    ).fetchall()
    for (
        session_id,
        agent_name,
        model,
        messages_json,
        metadata_json,
        started_at,
        updated_at,
        ended_at,
        _turns,
        _tools,
        usage_json,
    ) in rows:
        try:
            messages = [_reference_message(item) for item in json.loads(messages_json or "[]")]
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"session {session_id!r} of the reference table has unreadable messages: {exc}"
            ) from exc
        turns, tool_calls = message_counts(messages)
        usage = _reference_usage(usage_json)
        metadata = json.loads(metadata_json) if metadata_json else {}
        if not isinstance(metadata, dict):
            metadata = {"reference_metadata": metadata}
        cursor = conn.execute(
            "INSERT INTO sessions (session_id, agent_name, model, started_at, updated_at, "
            "ended_at, message_count, turn_count, tool_call_count, usage, metadata) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                agent_name,
                model,
                _reference_ts(started_at or updated_at),
                _reference_ts(updated_at),
                _reference_ts(ended_at) if ended_at else None,
                len(messages),
                turns,
                tool_calls,
                usage.model_dump_json() if usage else None,
                json.dumps(metadata),
            ),
        )
        conn.executemany(
            "INSERT INTO messages (session_pk, seq, role, body) VALUES (?, ?, ?, ?)",
            [
                (cursor.lastrowid, seq, message.role.value, message_body(message))
                for seq, message in enumerate(messages)
            ],
        )
    # Everything is copied inside this transaction; the old table would only go stale.
    conn.execute(f"DROP TABLE {REFERENCE_TABLE}")


_TIMESTAMP = TypeAdapter(datetime)


def _reference_ts(text: str) -> str:
    return format_ts(_TIMESTAMP.validate_python(text))


_FIELDS = set(ChatMessage.model_fields)


def _reference_message(item: Any) -> ChatMessage:
    """A reference ``ChatMessage`` object. Keys we have no field for are kept in ``metadata``
    rather than dropped, and OpenAI-style tool calls are unpacked."""
    if not isinstance(item, dict):
        raise TypeError(f"a message is a JSON object, not {type(item).__name__}")
    known = {key: value for key, value in item.items() if key in _FIELDS and value is not None}
    extra = {key: value for key, value in item.items() if key not in _FIELDS}
    if known.get("tool_calls"):
        known["tool_calls"] = [_reference_tool_call(call) for call in known["tool_calls"]]
    if extra:
        known["metadata"] = {**known.get("metadata", {}), "reference": extra}
    return ChatMessage.model_validate(known)


def _reference_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function")
    if isinstance(function, dict):  # {"id", "type": "function", "function": {"name", "arguments"}}
        name, arguments = function.get("name", ""), function.get("arguments", {})
    else:
        name, arguments = call.get("name", ""), call.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            arguments = {"_raw": arguments}
    if not isinstance(arguments, dict):
        arguments = {"_value": arguments}
    return {"id": str(call.get("id", "")), "name": name, "arguments": arguments}


def _reference_usage(text: str | None) -> Usage | None:
    if not text:
        return None
    data = json.loads(text)
    if not isinstance(data, dict):
        return None
    # OpenAI-style names, as a Rust port of an OpenAI client would serialise them.
    data.setdefault("input_tokens", data.get("prompt_tokens", 0))
    data.setdefault("output_tokens", data.get("completion_tokens", 0))
    return Usage.model_validate(data)
