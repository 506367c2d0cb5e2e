"""``SessionFactory``: realistic, deterministic sessions and messages from a few arguments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from session_history import ChatMessage, Session, ToolCall, Usage

__all__ = ["SessionFactory"]

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class SessionFactory:
    """Builds sessions like an agent would record them. Same calls, same objects: ids count up
    from 1 and times from 2026-01-01 UTC, one second per message."""

    def __init__(self) -> None:
        self._sessions = 0
        self._calls = 0
        self._clock = 0

    def _tick(self) -> datetime:
        self._clock += 1
        return EPOCH + timedelta(seconds=self._clock)

    def user(self, content: str) -> ChatMessage:
        """A user turn."""
        return ChatMessage(role="user", content=content, timestamp=self._tick())

    def assistant(
        self, content: str | None = None, *, tool_calls: list[ToolCall] | None = None
    ) -> ChatMessage:
        """An assistant reply, a tool-call request, or both."""
        return ChatMessage(
            role="assistant", content=content, tool_calls=tool_calls, timestamp=self._tick()
        )

    def tool_call(self, name: str, **arguments: Any) -> ToolCall:
        """A tool call with a fresh id (``call-1``, ``call-2``...)."""
        self._calls += 1
        return ToolCall(id=f"call-{self._calls}", name=name, arguments=arguments)

    def tool_result(self, call: ToolCall, content: str) -> ChatMessage:
        """The tool's answer to ``call``."""
        return ChatMessage(
            role="tool",
            tool_call_id=call.id,
            name=call.name,
            content=content,
            timestamp=self._tick(),
        )

    def turn(self, n: int = 1, *, tool: str | None = "search") -> list[ChatMessage]:
        """One exchange: a question; with ``tool``, a tool call and its result; an answer."""
        messages = [self.user(f"Question {n}?")]
        if tool is not None:
            call = self.tool_call(tool, query=f"question {n}")
            messages += [self.assistant(tool_calls=[call]), self.tool_result(call, f"Result {n}.")]
        messages.append(self.assistant(f"Answer {n}."))
        return messages

    def __call__(
        self,
        *,
        session_id: str | None = None,
        agent_name: str = "test-agent",
        model: str = "test-model",
        turns: int = 1,
        tool: str | None = "search",
        system: str | None = "You are a helpful agent.",
        usage: bool = True,
        metadata: dict[str, Any] | None = None,
    ) -> Session:
        """A whole session of ``turns`` exchanges (each with a tool call unless ``tool=None``)."""
        self._sessions += 1
        started = self._tick()
        messages = [ChatMessage(role="system", content=system)] if system is not None else []
        for n in range(1, turns + 1):
            messages += self.turn(n, tool=tool)
        return Session(
            session_id=session_id or f"session-{self._sessions}",
            agent_name=agent_name,
            model=model,
            messages=messages,
            started_at=started,
            usage=Usage(
                input_tokens=100 * turns, output_tokens=20 * turns, total_tokens=120 * turns
            )
            if usage
            else None,
            metadata=metadata
            if metadata is not None
            else {"title": f"Test session {self._sessions}"},
        )
