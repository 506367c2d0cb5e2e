"""Builders for test data."""

from __future__ import annotations

from datetime import UTC, datetime

from click.testing import CliRunner

from session_history import ChatMessage, Session, ToolCall, Usage
from session_history._backends.postgres.connection import ident
from session_history.cli import cli


def text(role: str, content: str) -> ChatMessage:
    return ChatMessage(role=role, content=content)


def turn(i: int) -> list[ChatMessage]:
    """A realistic exchange: user asks, assistant calls a tool, tool answers, assistant replies."""
    return [
        ChatMessage(role="user", content=f"question {i}"),
        ChatMessage(
            role="assistant",
            tool_calls=[ToolCall(id=f"call-{i}", name="lookup", arguments={"i": i})],
        ),
        ChatMessage(role="tool", tool_call_id=f"call-{i}", content=f"result {i}"),
        ChatMessage(role="assistant", content=f"answer {i}"),
    ]


def session(
    session_id: str = "s1", *, messages: list[ChatMessage] | None = None, **kw: object
) -> Session:
    fields: dict[str, object] = {
        "session_id": session_id,
        "agent_name": "agent",
        "model": "model",
        "messages": messages if messages is not None else [],
    }
    fields.update(kw)
    return Session.model_validate(fields)


def full_message() -> ChatMessage:
    """A message with every field set, to check that nothing is lost."""
    return ChatMessage(
        role="assistant",
        content="Here é 🌍",
        name="helper",
        tool_call_id="tc-0",
        tool_calls=[ToolCall(id="c1", name="f", arguments={"a": [1, 2, {"b": None}], "ü": "x"})],
        reasoning="because",
        raw_content_blocks=[{"type": "text", "text": "Here"}, {"type": "image", "url": "u"}],
        tool_metadata={"latency_ms": 12.5},
        timestamp=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        id="msg-1",
        provider_response_id="resp-1",
        status="completed",
        metadata={"lc": {"kwargs": {"x": 1}}},
    )


USAGE = Usage(input_tokens=10, output_tokens=5, total_tokens=15)


async def raw_sql(
    history: object, sqlite: str, postgres: str, *params: object
) -> list[tuple[object, ...]]:
    """Run SQL on the backend's own connection, for tests that must reach under the API.
    ``postgres`` may say ``{s}`` for the quoted schema."""
    backend = history._backend  # type: ignore[attr-defined]
    if type(backend).__name__ == "SQLiteBackend":
        return await backend._db.write(lambda conn: conn.execute(sqlite, params).fetchall())  # type: ignore[no-any-return]

    async def run(conn):  # type: ignore[no-untyped-def]
        sql = postgres.format(s=ident(backend.schema))
        return [tuple(r) for r in await conn.fetch(sql, *params)]

    return await backend._db.write(run)  # type: ignore[no-any-return]


def server_dsn(url: str) -> str:
    """The server a store's URL names, without our ``schema`` parameter (for connections of a
    test's own: a blocker, a killer)."""
    from session_history._urls import split_schema

    return split_schema(url)[0]


def run_cli(*args: str, input: str | None = None) -> tuple[int, str]:
    """Run the ``session-history`` command: its exit status and output. A crash (an exception
    other than the exit, or one the CLI could only report as unexpected) fails the test."""
    result = CliRunner().invoke(cli, list(args), input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Error: unexpected error" not in result.output, result.output
    return result.exit_code, result.output
