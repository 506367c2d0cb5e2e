"""How the CLI shows things to people: tables on a terminal, tab-separated text when piped,
transcripts as text or Markdown, search hits with their matches marked."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import click

from ._models import ChatMessage, HistoryStats, SearchHit, Session, SessionSummary

__all__ = [
    "MARK",
    "hits_text",
    "markdown",
    "parse_duration",
    "parse_when",
    "sessions_table",
    "stats_text",
    "table",
    "transcript",
]

MARK = ("\ue000", "\ue001")
"""Highlight marks the CLI asks search for: private-use characters, never in real text, replaced
by bold or brackets when shown."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(value: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` as a timedelta; ValueError otherwise."""
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration; write it like 30d, 12h, 90m or 2w")
    number, unit = match.groups()
    return timedelta(**{_UNITS[unit]: float(number)})


def parse_when(value: str, *, now: datetime | None = None) -> datetime:
    """A point in time: a duration ago (``7d``), a date (``2026-01-31``, midnight UTC) or an ISO
    datetime (naive ones are UTC)."""
    try:
        return (now or datetime.now(UTC)) - parse_duration(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{value!r} is not a time; write a date (2026-01-31), a datetime "
            "(2026-01-31T08:00) or how long ago (7d, 12h)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, terminal: bool) -> str:
    """Aligned columns for a person at a terminal; tab-separated lines for a pipe."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    if not terminal:
        return "\n".join("\t".join(row) for row in cells)
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def sessions_table(summaries: Sequence[SessionSummary], *, terminal: bool = True) -> str:
    """The sessions, newest first, one line each."""
    return table(
        ["ID", "AGENT", "MODEL", "MSGS", "TURNS", "TOOLS", "TOKENS", "UPDATED (UTC)"],
        [
            [
                s.id,
                s.agent_name,
                s.model,
                s.message_count,
                s.turn_count,
                s.tool_call_count,
                s.usage.total_tokens if s.usage else "-",
                _when(s.updated_at),
            ]
            for s in summaries
        ],
        terminal=terminal,
    )


def transcript(session: Session) -> Iterator[str]:
    """A session as text a person reads: who said what, tool calls, results, reasoning, usage."""
    yield f"session {session.session_id}  agent {session.agent_name}  model {session.model}"
    yield f"started {_when(session.started_at)}  ended {_when(session.ended_at)}"
    if session.usage:
        u = session.usage
        yield f"usage   {u.input_tokens} in, {u.output_tokens} out, {u.total_tokens} total"
    for key, value in session.metadata.items():
        yield f"{key:<8}{value}"
    for seq, message in enumerate(session.messages):
        yield ""
        yield from _message_lines(seq, message)


def _message_lines(seq: int, message: ChatMessage) -> Iterator[str]:
    who = message.role.value + (f" ({message.name})" if message.name else "")
    if message.tool_call_id:
        who += f" -> {message.tool_call_id}"
    if message.status:
        who += f" [{message.status}]"
    yield f"[{seq}] {who}"
    if message.reasoning:
        yield f"    thinking: {message.reasoning}"
    if message.content is not None:
        yield from (f"    {line}" for line in message.content.splitlines() or [""])
    for call in message.tool_calls or []:
        arguments = json.dumps(call.arguments, ensure_ascii=False)
        yield f"    calls {call.name}({arguments})  [{call.id}]"


def markdown(session: Session) -> str:
    """A session as Markdown, for pasting into an issue or a doc."""
    lines = [
        f"# Session `{session.session_id}`",
        "",
        f"- **Agent:** {session.agent_name}",
        f"- **Model:** {session.model}",
        f"- **Started:** {_when(session.started_at)} UTC",
        f"- **Ended:** {_when(session.ended_at)}{' UTC' if session.ended_at else ''}",
    ]
    if session.usage:
        u = session.usage
        lines.append(
            f"- **Usage:** {u.input_tokens} in, {u.output_tokens} out, {u.total_tokens} total"
        )
    for key, value in session.metadata.items():
        lines.append(f"- **{key}:** {value}")
    for seq, message in enumerate(session.messages):
        title = message.role.value.capitalize()
        if message.tool_call_id:
            title += f" (result of `{message.tool_call_id}`)"
        lines += ["", f"## {seq}. {title}", ""]
        if message.reasoning:
            lines += [f"> *Thinking:* {message.reasoning}", ""]
        if message.content:
            lines.append(message.content)
        for call in message.tool_calls or []:
            arguments = json.dumps(call.arguments, ensure_ascii=False, indent=2)
            lines += [
                "",
                f"Tool call `{call.name}` (`{call.id}`):",
                "",
                "```json",
                arguments,
                "```",
            ]
    return "\n".join(lines) + "\n"


def hits_text(hits: Sequence[SearchHit], *, terminal: bool) -> str:
    """Search hits: where each is (session, message, role), and its snippet with the matches
    in bold on a terminal, between [ ] when piped."""
    marked = re.compile(re.escape(MARK[0]) + "(.*?)" + re.escape(MARK[1]), re.DOTALL)

    def show(match: re.Match[str]) -> str:
        return click.style(match.group(1), bold=True) if terminal else f"[{match.group(1)}]"

    blocks = []
    for hit in hits:
        snippet = marked.sub(show, hit.snippet).replace("\n", " ")
        blocks.append(
            f"{hit.session_id}  #{hit.seq} {hit.role.value}  ({hit.agent_name}, "
            f"rank {_rank(hit.rank)})\n"
            f"    {snippet}"
        )
    return "\n".join(blocks)


def _rank(value: float) -> str:
    """Three significant digits, so that the small ranks of common words (bm25 gives a word
    found in most messages about 1e-06) still show how hits compare, instead of all ``0.00``."""
    return f"{value:.3g}"


def stats_text(stats: HistoryStats, *, terminal: bool) -> str:
    size = f"{stats.size_bytes / 1_048_576:.1f} MiB" if stats.size_bytes is not None else "-"
    overview = table(
        ["WHAT", "COUNT"],
        [
            ["sessions", stats.sessions],
            ["messages", stats.messages],
            ["turns", stats.turns],
            ["tool calls", stats.tool_calls],
            ["input tokens", stats.input_tokens],
            ["output tokens", stats.output_tokens],
            ["total tokens", stats.total_tokens],
            ["oldest update", _when(stats.oldest_update)],
            ["newest update", _when(stats.newest_update)],
            ["database size", size],
        ],
        terminal=terminal,
    )
    agents = table(["AGENT", "SESSIONS"], list(stats.sessions_by_agent.items()), terminal=terminal)
    models = table(["MODEL", "SESSIONS"], list(stats.sessions_by_model.items()), terminal=terminal)
    return f"{overview}\n\n{agents}\n\n{models}"
