"""How the CLI shows things to people: tables on a terminal, tab-separated text when piped,
transcripts as text or Markdown, search hits with their matches marked.

Everything stored is shown through :func:`visible`: a transcript holds what tools and web pages
returned, and its escape sequences must not retitle the terminal, clear it, forge links or
overwrite lines. Control characters (C0 but a body's line breaks, DEL, C1) and the bidirectional
overrides are shown as escapes (``\\x1b``, ``\\r``, ``\\u202e``), when piped too: a text file
reaches a terminal at its next ``cat``. ``--json`` keeps every character, written as a JSON
escape (:func:`json_text`), and an export keeps the stored bytes as they are."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

import click

from ._codec import MESSAGES
from ._models import ChatMessage, HistoryStats, SearchHit, Session, SessionSummary

__all__ = [
    "MARK",
    "hits_text",
    "json_lines",
    "json_text",
    "markdown",
    "markdown_lines",
    "parse_age",
    "parse_duration",
    "parse_when",
    "sessions_table",
    "stats_text",
    "table",
    "transcript",
    "visible",
]

MARK = ("\ue000", "\ue001")
"""Highlight marks the CLI asks search for: private-use characters, never in real text, replaced
by bold or brackets when shown."""

_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_UNSAFE = [*range(0x20), 0x7F, *range(0x80, 0xA0), *_BIDI]
"""What a terminal may act on rather than show: C0 and C1 controls, DEL, and the bidirectional
embeddings, overrides and isolates (which make text read other than it is stored)."""
_SURROGATES = range(0xD800, 0xE000)
"""What no terminal can be sent (they have no UTF-8 form): the bytes of a file name or argument
that were not UTF-8, which Python keeps as lone surrogates (U+DC80-U+DCFF)."""


def _escape(code: int) -> str:
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # the byte it stands for
    return {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}.get(
        code, f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    )


_ESCAPED = {code: _escape(code) for code in (*_UNSAFE, *_SURROGATES)}
_ESCAPED_BUT_LINES = {code: text for code, text in _ESCAPED.items() if code != 0x0A}
_JSON_ESCAPED = {code: f"\\u{code:04x}" for code in _UNSAFE if code >= 0x7F}


def visible(value: object, *, lines: bool = False) -> str:
    """``value`` as text a terminal shows and does not act on: every control character and
    bidirectional override as an escape (``\\x1b``), line breaks too unless ``lines``, and a
    byte that was not UTF-8 as ``\\xff``."""
    text = str(value)
    if lines:
        text = text.replace("\r\n", "\n")  # a line break as Windows writes it, not a stray \r
    return text.translate(_ESCAPED_BUT_LINES if lines else _ESCAPED)


def json_text(text: str) -> str:
    """JSON text with DEL, the C1 controls and the bidirectional overrides written as ``\\uXXXX``
    escapes (the encoders already escape the C0 controls): the same values to a JSON reader, and
    nothing a terminal acts on. Valid because outside its strings JSON is ASCII."""
    return text.translate(_JSON_ESCAPED)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(value: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` as a timedelta; ValueError otherwise."""
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration; write it like 30d, 12h, 90m or 2w")
    number, unit = match.groups()
    try:
        return timedelta(**{_UNITS[unit]: float(number)})
    except OverflowError:
        raise ValueError(_too_long(value)) from None


def _too_long(value: str) -> str:
    return f"{value!r} reaches back past the year 1; give a shorter time, such as 3650d"


def parse_age(value: str, *, now: datetime | None = None) -> timedelta:
    """A duration (:func:`parse_duration`) that still names a time since the year 1."""
    age = parse_duration(value)
    try:
        (now or datetime.now(UTC)) - age
    except OverflowError:
        raise ValueError(_too_long(value)) from None
    return age


def parse_when(value: str, *, now: datetime | None = None) -> datetime:
    """A point in time: a duration ago (``7d``), a date (``2026-01-31``, midnight UTC) or an ISO
    datetime (naive ones are UTC), between the years 1 and 9999 in UTC."""
    if _DURATION.match(value):
        now = now or datetime.now(UTC)
        return now - parse_age(value, now=now)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{value!r} is not a time; write a date (2026-01-31), a datetime "
            "(2026-01-31T08:00) or how long ago (7d, 12h)"
        ) from None
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"{value!r} is outside the years 1 to 9999 once in UTC; give a time within them"
        ) from None


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, terminal: bool) -> str:
    """Aligned columns for a person at a terminal; tab-separated lines for a pipe."""
    cells = [[visible(c) for c in headers], *[[visible(c) for c in row] for row in rows]]
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


def transcript(session: Session, messages: Iterable[ChatMessage] | None = None) -> Iterator[str]:
    """A session as text a person reads: who said what, tool calls, results, reasoning, usage;
    its ``messages`` when given (read as they are shown), else ``session.messages``."""
    yield visible(
        f"session {session.session_id}  agent {session.agent_name}  model {session.model}"
    )
    yield f"started {_when(session.started_at)}  ended {_when(session.ended_at)}"
    if session.usage:
        u = session.usage
        yield f"usage   {u.input_tokens} in, {u.output_tokens} out, {u.total_tokens} total"
    for key, value in session.metadata.items():
        yield visible(f"{key:<8}{value}")
    for seq, message in enumerate(session.messages if messages is None else messages):
        yield ""
        yield from _message_lines(seq, message)


def _message_lines(seq: int, message: ChatMessage) -> Iterator[str]:
    who = message.role.value + (f" ({message.name})" if message.name else "")
    if message.tool_call_id:
        who += f" -> {message.tool_call_id}"
    if message.status:
        who += f" [{message.status}]"
    yield visible(f"[{seq}] {who}")
    if message.reasoning:
        yield from _indented(f"thinking: {message.reasoning}")
    if message.content is not None:
        yield from _indented(message.content)
    for call in message.tool_calls or []:
        arguments = json.dumps(call.arguments, ensure_ascii=False)
        yield visible(f"    calls {call.name}({arguments})  [{call.id}]")


def _indented(text: str) -> Iterator[str]:
    """Text as it is stored, its line breaks kept, each line indented under its heading."""
    for line in visible(text, lines=True).removesuffix("\n").split("\n"):
        yield f"    {line}"


def markdown(session: Session) -> str:
    """A session as Markdown, for pasting into an issue or a doc."""
    return "".join(line + "\n" for line in markdown_lines(session))


def markdown_lines(
    session: Session, messages: Iterable[ChatMessage] | None = None
) -> Iterator[str]:
    """The lines of :func:`markdown`, made as ``messages`` (else ``session.messages``) are read."""
    yield from [
        f"# Session `{visible(session.session_id)}`",
        "",
        f"- **Agent:** {visible(session.agent_name)}",
        f"- **Model:** {visible(session.model)}",
        f"- **Started:** {_when(session.started_at)} UTC",
        f"- **Ended:** {_when(session.ended_at)}{' UTC' if session.ended_at else ''}",
    ]
    if session.usage:
        u = session.usage
        yield f"- **Usage:** {u.input_tokens} in, {u.output_tokens} out, {u.total_tokens} total"
    for key, value in session.metadata.items():
        yield visible(f"- **{key}:** {value}")
    for seq, message in enumerate(session.messages if messages is None else messages):
        title = message.role.value.capitalize()
        if message.tool_call_id:
            title += f" (result of `{visible(message.tool_call_id)}`)"
        yield from ["", f"## {seq}. {title}", ""]
        if message.reasoning:
            yield from [visible(f"> *Thinking:* {message.reasoning}", lines=True), ""]
        if message.content:
            yield visible(message.content, lines=True)
        for call in message.tool_calls or []:
            arguments = json.dumps(call.arguments, ensure_ascii=False, indent=2)
            yield from [
                "",
                visible(f"Tool call `{call.name}` (`{call.id}`):"),
                "",
                "```json",
                visible(arguments, lines=True),
                "```",
            ]


def json_lines(session: Session, messages: Iterable[ChatMessage]) -> Iterator[str]:
    """``session`` (without messages) with ``messages`` as ``--json`` shows it, in pieces made
    as the messages are read: the text of ``Session.model_dump_json(indent=2,
    exclude_defaults=True)`` of the whole session, escaped by :func:`json_text`."""
    batches = _batches(messages, 500)
    first = next(batches, None)
    if first is None:
        yield json_text(session.model_dump_json(indent=2, exclude_defaults=True))
        return
    # The session with one message, cut around it: what comes before and after the array's
    # elements, so that the elements can be written in between as they are read.
    marked = session.model_copy(update={"messages": [first[0]]})
    text = marked.model_dump_json(indent=2, exclude_defaults=True)
    start = text.index('\n  "messages": [\n') + len('\n  "messages": [\n')
    end = text.index("\n  ]", start)
    yield json_text(text[:start])
    comma = ""
    for batch in itertools.chain([first], batches):
        items = MESSAGES.dump_json(batch, indent=2, exclude_defaults=True).decode()
        # An array at the top level, indented one level less than in the session (JSON text
        # holds no raw line break inside a string, so every one is indentation).
        yield json_text(comma + "  " + items[2:-2].replace("\n", "\n  "))
        comma = ",\n"
    yield json_text(text[end:])


def _batches(items: Iterable[ChatMessage], size: int) -> Iterator[list[ChatMessage]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def hits_text(hits: Sequence[SearchHit], *, terminal: bool) -> str:
    """Search hits: where each is (session, message, role), and its snippet with the matches
    in bold on a terminal, between [ ] when piped."""
    marked = re.compile(re.escape(MARK[0]) + "(.*?)" + re.escape(MARK[1]), re.DOTALL)

    def show(match: re.Match[str]) -> str:
        return click.style(match.group(1), bold=True) if terminal else f"[{match.group(1)}]"

    blocks = []
    for hit in hits:
        # Escaped before the marks become bold: the only escape sequences shown are ours.
        snippet = marked.sub(show, visible(hit.snippet.replace("\n", " ")))
        where = f"{hit.session_id}  #{hit.seq} {hit.role.value}  ({hit.agent_name}, "
        blocks.append(f"{visible(where)}rank {_rank(hit.rank)})\n    {snippet}")
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
