"""Databases made by the reference design: its one ``session_history`` table, moved into ours.

The reference (a Rust ``SessionStore``) keeps one row per session with every message in one JSON
array. :func:`import_reference_table` runs as a migration step (``m002``): each row becomes a
session row and one row per message; ``updated_at`` is kept, so the listing order survives.

Every row is migrated, also those the reference reads only by ignoring what it cannot parse (it
takes an unreadable ``usage`` or time as missing). Here nothing is dropped: what cannot be taken
as it is goes, as written, under ``metadata["reference"]`` of its session or message, next to the
keys of a message that we have no field for and tool calls that carry keys ours do not have.
Times that do not parse fall back, in order, to the other of ``started_at``/``updated_at``, then
to the time of the migration; an end time that does not parse is left out, as the reference
reads it; a leap second (``23:59:60``, which Python's ``datetime`` cannot hold) becomes the last
microsecond before it. How many sessions needed that is logged (logger ``session_history``).

The reference program may run again after the migration and recreate its table: then
:func:`reimport_reference_table` (run by the store when it opens) moves those rows in too.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import JsonValue, TypeAdapter, ValidationError

from ..._codec import message_body
from ..._errors import MigrationError
from ..._models import ChatMessage, ExportedSession, Session, Usage, message_counts, utc_now
from ..shared import format_ts, message_rows
from .reads import read_session
from .writes import insert_session

__all__ = ["REFERENCE_TABLE", "import_reference_table", "reimport_reference_table"]

REFERENCE_TABLE = "session_history"
"""The single table of the reference design, whose databases we migrate."""

log = logging.getLogger("session_history")


@dataclass
class _Row:
    """One row of the reference table, converted; ``repaired`` when something in it could not
    be parsed and was kept as written."""

    session: ExportedSession
    repaired: bool


def import_reference_table(conn: sqlite3.Connection) -> None:
    """Move the sessions of a database made by the reference design into our tables (on the
    schema of ``m001``, inside the migration's transaction), then drop its table."""
    rows = _read_table(conn)
    if rows is None:
        return
    for row in rows:
        session = row.session
        turns, tool_calls = message_counts(session.messages)
        cursor = conn.execute(
            "INSERT INTO sessions (session_id, agent_name, model, started_at, updated_at, "
            "ended_at, message_count, turn_count, tool_call_count, usage, metadata) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session.session_id,
                session.agent_name,
                session.model,
                format_ts(session.started_at or utc_now()),
                format_ts(session.updated_at or utc_now()),
                format_ts(session.ended_at) if session.ended_at else None,
                len(session.messages),
                turns,
                tool_calls,
                session.usage.model_dump_json() if session.usage else None,
                json.dumps(session.metadata, ensure_ascii=False),
            ),
        )
        conn.executemany(
            "INSERT INTO messages (session_pk, seq, role, body) VALUES (?, ?, ?, ?)",
            [
                (cursor.lastrowid, seq, message.role.value, message_body(message))
                for seq, message in enumerate(session.messages)
            ],
        )
    # Everything is copied inside this transaction; the old table would only go stale.
    conn.execute(f"DROP TABLE {REFERENCE_TABLE}")
    _report(conn, rows, "migrated")


def reimport_reference_table(conn: sqlite3.Connection) -> int:
    """Move in the rows the reference's program wrote after the migration, when it recreated its
    table (on the current schema, in the caller's transaction); returns how many.

    A row whose session is stored already is dropped when it holds the same session; when it
    differs, nothing is changed and :class:`~session_history.MigrationError` names the table
    and the sessions, since either choice would lose one of the two.
    """
    rows = _read_table(conn)
    if rows is None:
        return 0  # another process, opening the database too, imported them first
    new: list[_Row] = []
    conflicts: list[str] = []
    for row in rows:
        stored = read_session(conn, row.session.session_id)
        if stored is None:
            new.append(row)
        elif stored != Session.model_validate(row.session.model_dump(exclude={"updated_at"})):
            conflicts.append(row.session.session_id)
    if conflicts:
        shown = ", ".join(repr(c) for c in conflicts[:5]) + (", ..." if len(conflicts) > 5 else "")
        raise MigrationError(
            f"{_location(conn)} has a table {REFERENCE_TABLE!r} again: the reference design's "
            f"program wrote {len(rows)} session(s) there after the database was migrated, and "
            f"{len(conflicts)} of them ({shown}) are stored here too, with other contents. "
            "Nothing was changed. Compare the two, delete the one you do not want (from "
            f"{REFERENCE_TABLE} with sqlite3, or with 'session-history delete'), and open the "
            "database again: the rest of the table is then imported.",
            path=_location(conn),
        )
    for row in new:
        session = row.session
        insert_session(conn, session, message_rows(session.messages), session.updated_at)
    conn.execute(f"DROP TABLE {REFERENCE_TABLE}")
    _report(conn, new, f"found again in table {REFERENCE_TABLE!r} and imported")
    return len(new)


def _location(conn: sqlite3.Connection) -> str:
    return str(conn.execute("PRAGMA database_list").fetchone()[2])


def _report(conn: sqlite3.Connection, rows: list[_Row], what: str) -> None:
    repaired = sum(row.repaired for row in rows)
    log.info("%s: %d session(s) of the reference design %s", _location(conn), len(rows), what)
    if repaired:
        log.warning(
            "%s: %d of the reference design's session(s) held values that could not be read "
            "(usage, times, metadata or message fields); each is kept as written under "
            "metadata['reference'], and times fell back as documented",
            _location(conn),
            repaired,
        )


def _read_table(conn: sqlite3.Connection) -> list[_Row] | None:
    """Every row of the reference table, converted; None when there is no such table."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (REFERENCE_TABLE,)
    ).fetchone()
    if not exists:
        return None
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({REFERENCE_TABLE})")}
    usage_column = "usage" if "usage" in columns else "NULL"  # added later by ALTER TABLE
    rows = conn.execute(
        f"SELECT id, agent_name, model, messages, metadata, started_at, updated_at, ended_at, "
        f"{usage_column} FROM {REFERENCE_TABLE} ORDER BY rowid"
    ).fetchall()
    return [_convert(*row) for row in rows]


def _convert(
    session_id: str,
    agent_name: str,
    model: str,
    messages_json: str | None,
    metadata_text: str | None,
    started_text: str | None,
    updated_text: str | None,
    ended_text: str | None,
    usage_text: str | None,
) -> _Row:
    # Messages the reference cannot read either (not JSON, a role it does not know) stop the
    # migration: the error names the session, and the table stays as it was.
    try:
        converted = [_reference_message(item) for item in json.loads(messages_json or "[]")]
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"session {session_id!r} of the reference table has unreadable messages: {exc}"
        ) from exc
    messages = [message for message, _ in converted]
    raw: dict[str, JsonValue] = {}
    started = _time(started_text, "started_at", raw)
    updated = _time(updated_text, "updated_at", raw)
    ended = _time(ended_text, "ended_at", raw) if ended_text else None
    now = utc_now()
    usage = _reference_usage(usage_text, raw)
    metadata = _reference_metadata(metadata_text, raw)
    if raw:
        metadata["reference"] = raw
    session = ExportedSession(
        session_id=session_id,
        agent_name=agent_name,
        model=model,
        messages=messages,
        started_at=started or updated or now,
        updated_at=updated or started or now,
        ended_at=ended,
        usage=usage,
        metadata=metadata,
    )
    return _Row(session, bool(raw) or any(unparsed for _, unparsed in converted))


_TIMESTAMP = TypeAdapter(datetime)
_LEAP_SECOND = re.compile(r"([Tt ]\d{2}:\d{2}:)60(?:\.\d+)?")


def _parse_time(text: str) -> tuple[datetime | None, bool]:
    """``(time, exact)``: a leap second is read as the last microsecond before it (not exact);
    text that is no time gives None."""
    try:
        return _TIMESTAMP.validate_python(text), True
    except ValidationError:
        pass
    leap = _LEAP_SECOND.sub(r"\g<1>59.999999", text, count=1)
    if leap != text:
        try:
            return _TIMESTAMP.validate_python(leap), False
        except ValidationError:
            pass
    return None, False


def _time(text: str | None, field: str, raw: dict[str, JsonValue]) -> datetime | None:
    if text is None:
        return None
    value, exact = _parse_time(str(text))
    if not exact:
        raw[field] = text
    return value


def _reference_usage(text: str | None, raw: dict[str, JsonValue]) -> Usage | None:
    if not text:
        return None
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError("usage is not a JSON object")
        # OpenAI-style names, as a Rust port of an OpenAI client would serialise them.
        data.setdefault("input_tokens", data.get("prompt_tokens", 0))
        data.setdefault("output_tokens", data.get("completion_tokens", 0))
        return Usage.model_validate(data)
    except (ValueError, TypeError):  # ValidationError is a ValueError
        raw["usage"] = text
        return None


def _reference_metadata(text: str | None, raw: dict[str, JsonValue]) -> dict[str, JsonValue]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    raw["metadata"] = text
    return {}


_FIELDS = set(ChatMessage.model_fields)


def _reference_message(item: Any) -> tuple[ChatMessage, bool]:
    """A reference ``ChatMessage`` object, and whether a value in it could not be parsed.

    Keys we have no field for, and values of our fields that do not validate (a leap-second
    timestamp, say), are kept under ``metadata["reference"]``; OpenAI-style tool calls are
    unpacked, and kept as written there too when they carry keys a tool call of ours has no
    place for."""
    if not isinstance(item, dict):
        raise TypeError(f"a message is a JSON object, not {type(item).__name__}")
    known = {key: value for key, value in item.items() if key in _FIELDS and value is not None}
    kept: dict[str, JsonValue] = {key: value for key, value in item.items() if key not in _FIELDS}
    if known.get("tool_calls"):
        calls = known["tool_calls"]
        if not isinstance(calls, list):
            raise TypeError(f"tool_calls is a JSON array, not {type(calls).__name__}")
        converted = [_reference_tool_call(call) for call in calls]
        known["tool_calls"] = [call for call, _ in converted]
        if any(extra for _, extra in converted):
            kept["tool_calls"] = calls
    unparsed = False
    if not isinstance(known.get("metadata", {}), dict):
        kept["metadata"] = known.pop("metadata")
        unparsed = True
    while True:
        metadata = known.get("metadata", {})
        fields = {**known, "metadata": {**metadata, "reference": kept} if kept else metadata}
        try:
            return ChatMessage.model_validate(fields), unparsed
        except ValidationError as exc:
            bad = ({str(e["loc"][0]) for e in exc.errors() if e["loc"]} & set(known)) - {"role"}
            if not bad:
                raise  # the role, or nothing we can set aside: the reference fails here too
            unparsed = True
            for key in bad:
                kept[key] = item[key]
                value = known.pop(key)
                if key == "timestamp" and isinstance(value, str):
                    when = _parse_time(value)[0]  # a leap second, nearly; exactly in kept
                    if when is not None:
                        known["timestamp"] = when


def _reference_tool_call(call: Any) -> tuple[dict[str, Any], bool]:
    """``(tool call, whether it had keys beyond ours)``."""
    if not isinstance(call, dict):
        raise TypeError(f"a tool call is a JSON object, not {type(call).__name__}")
    function = call.get("function")
    extra = set(call) - {"id", "type", "function", "name", "arguments"}
    if isinstance(function, dict):  # {"id", "type": "function", "function": {"name", "arguments"}}
        name, arguments = function.get("name", ""), function.get("arguments", {})
        extra |= set(function) - {"name", "arguments"}
    else:
        name, arguments = call.get("name", ""), call.get("arguments", {})
    if call.get("type", "function") != "function":
        extra.add("type")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            arguments = {"_raw": arguments}
    if not isinstance(arguments, dict):
        arguments = {"_value": arguments}
    return {"id": str(call.get("id", "")), "name": name, "arguments": arguments}, bool(extra)
