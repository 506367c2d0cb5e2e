"""The SQLite schema, as the ordered migrations that build it.

Layout (after every migration):

``sessions``
    one row per session with the summary columns listing reads (counts, usage, timestamps,
    metadata), kept up to date by each write, so listing never touches a message.
``messages``
    one row per message: ``(session_pk, seq)`` is the explicit order within a session, ``body``
    the message as JSON. Appending inserts rows; it never rewrites what is stored.
``messages_fts``
    an FTS5 index of each message's searchable text (content, reasoning, tool-call names and
    arguments), rowid = ``messages.id``, kept in step by the store inside every write's
    transaction.
``_session_history_migrations``
    the names of the applied migrations (see :mod:`session_history.migrations`).

Timestamps are stored as fixed-width UTC text (``2026-01-02T03:04:05.000006Z``), so comparing the
text orders them in time and a person reading the file with ``sqlite3`` sees dates.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import PydanticSerializationError

from ..errors import InvalidQueryError
from ..migrations import Migrations
from ..models import ChatMessage, Usage, message_counts
from ..search import search_text

__all__ = [
    "MIGRATIONS_TABLE",
    "REFERENCE_TABLE",
    "format_ts",
    "message_body",
    "migrations",
]

MIGRATIONS_TABLE = "_session_history_migrations"
REFERENCE_TABLE = "session_history"
"""The single table of the reference design, whose databases we migrate."""

migrations: Migrations[sqlite3.Connection] = Migrations()


def format_ts(value: datetime) -> str:
    """Fixed-width UTC text: sorts as it reads. A naive value is taken to be UTC already."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def message_body(message: ChatMessage) -> str:
    """The stored JSON of a message: defaults left out, so rows stay small."""
    try:
        return message.model_dump_json(exclude_defaults=True)
    except PydanticSerializationError as exc:
        # Lone surrogates (text decoded with surrogateescape, say) have no UTF-8 form.
        raise InvalidQueryError(
            f"a {message.role.value} message cannot be stored: {exc}; fix its text before saving it"
        ) from exc


@migrations
def m001_initial(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE sessions (
            pk INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL UNIQUE,
            agent_name TEXT NOT NULL,
            model TEXT NOT NULL,
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            ended_at TEXT,
            message_count INTEGER NOT NULL DEFAULT 0,
            turn_count INTEGER NOT NULL DEFAULT 0,
            tool_call_count INTEGER NOT NULL DEFAULT 0,
            usage TEXT,
            metadata TEXT NOT NULL DEFAULT '{}',
            -- The SessionSummary as JSON, kept by SQLite itself: listing fetches one string per
            -- session and validates them all in one pydantic call. Building it at read time
            -- instead would take most of a listing's time.
            summary TEXT GENERATED ALWAYS AS (json_object(
                'id', session_id, 'agent_name', agent_name, 'model', model,
                'message_count', message_count, 'turn_count', turn_count,
                'tool_call_count', tool_call_count, 'started_at', started_at,
                'updated_at', updated_at, 'ended_at', ended_at,
                'usage', json(usage), 'metadata', json(metadata))) STORED
        )
        """
    )
    # Listing order is (updated_at DESC, session_id DESC); these indexes serve it with and
    # without the agent filter, and make keyset paging a range scan.
    conn.execute("CREATE INDEX sessions_by_updated ON sessions (updated_at DESC, session_id DESC)")
    conn.execute(
        "CREATE INDEX sessions_by_agent ON sessions (agent_name, updated_at DESC, session_id DESC)"
    )
    conn.execute(
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            session_pk INTEGER NOT NULL REFERENCES sessions (pk) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            body TEXT NOT NULL,
            UNIQUE (session_pk, seq)
        )
        """
    )


@migrations
def m002_import_reference_table(conn: sqlite3.Connection) -> None:
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


@migrations
def m003_full_text_search(conn: sqlite3.Connection) -> None:
    """An FTS5 index of every message, built here for the rows already there.

    The store keeps it in step itself, in each write's transaction, with the text that
    :func:`~session_history.search.search_text` makes of each message, so there is one
    definition of what is searchable. Not with triggers extracting it from the JSON in SQL: that
    made an append ten times slower than the insert itself. ``remove_diacritics`` lets "cafe"
    find "café"; the index keeps its own copy of the text so results can show a snippet.
    """
    conn.execute(
        "CREATE VIRTUAL TABLE messages_fts USING fts5("
        "text, tokenize = 'unicode61 remove_diacritics 2')"
    )
    rows = conn.execute("SELECT id, body FROM messages").fetchall()
    conn.executemany(
        "INSERT INTO messages_fts (rowid, text) VALUES (?, ?)",
        ((id_, search_text(ChatMessage.model_validate_json(body))) for id_, body in rows),
    )
