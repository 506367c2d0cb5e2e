"""What ``session-history demo`` records: a few realistic agent sessions, through the public API.

Kept apart from the CLI so that it reads as an example of the library's use: a hook plugin,
sessions created and appended to turn by turn, usage accumulated, pruning by the config.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from ._config import HistoryConfig
from ._models import ChatMessage, Session, SessionSummary, ToolCall, Usage, utc_now
from ._sync import SyncSessionHistory
from .hookspecs import hookimpl

__all__ = ["DEMO_MAX_SESSIONS", "PrintingPlugin", "run_demo"]

DEMO_MAX_SESSIONS = 3


class PrintingPlugin:
    """A hook plugin that reports every hook call through ``echo``."""

    def __init__(self, echo: Callable[[str], object]) -> None:
        self.echo = echo

    @hookimpl
    def session_history_saved(
        self, summary: SessionSummary, new_messages: Sequence[ChatMessage], operation: str
    ) -> None:
        self.echo(
            f"  hook saved   {operation:<6} {summary.id}: +{len(new_messages)} message(s), "
            f"{summary.message_count} in all"
        )

    @hookimpl
    def session_history_pruned(self, pruned: Sequence[SessionSummary], reason: str) -> None:
        self.echo(f"  hook pruned  {len(pruned)} session(s) by {reason}: {[s.id for s in pruned]}")

    @hookimpl
    def session_history_deleted(self, session_id: str) -> None:
        self.echo(f"  hook deleted {session_id}")


def _conversations() -> list[tuple[str, str, str, list[list[ChatMessage]], Usage]]:
    """(agent, model, title, turns, usage per turn): each turn is appended in one call."""
    weather = [
        [ChatMessage(role="system", content="You are a concise travel assistant.")],
        [ChatMessage(role="user", content="Do I need an umbrella in Lisbon tomorrow?")],
        [
            ChatMessage(
                role="assistant",
                content=None,
                tool_calls=[
                    ToolCall(
                        id="call_1", name="get_forecast", arguments={"city": "Lisbon", "days": 1}
                    )
                ],
            ),
            ChatMessage(
                role="tool",
                tool_call_id="call_1",
                name="get_forecast",
                content='{"rain_probability": 0.7, "high_c": 17}',
            ),
        ],
        [
            ChatMessage(
                role="assistant",
                content="Yes: a 70% chance of rain, with a high of 17 °C. Take the umbrella.",
            )
        ],
    ]
    code = [
        [ChatMessage(role="user", content="Why does my test hang at exit?")],
        [
            ChatMessage(
                role="assistant",
                reasoning="Non-daemon threads keep the interpreter alive.",
                content=None,
                tool_calls=[
                    ToolCall(id="call_7", name="grep", arguments={"pattern": "aiosqlite.connect"})
                ],
            ),
            ChatMessage(
                role="tool", tool_call_id="call_7", content="tests/conftest.py:12: db = await ..."
            ),
        ],
        [
            ChatMessage(
                role="assistant",
                content="The connection opened in conftest.py:12 is never closed; "
                "use 'async with' so its worker thread stops.",
            )
        ],
    ]
    support = [
        [ChatMessage(role="user", content="Cancel order 1042, please.")],
        [
            ChatMessage(
                role="assistant",
                tool_calls=[ToolCall(id="call_3", name="cancel_order", arguments={"id": 1042})],
            ),
            ChatMessage(role="tool", tool_call_id="call_3", content="cancelled", status="success"),
        ],
        [
            ChatMessage(
                role="assistant", content="Order 1042 is cancelled; the refund takes 3 days."
            )
        ],
    ]
    per_turn = Usage(input_tokens=120, output_tokens=40, total_tokens=160)
    return [
        ("travel-agent", "gpt-5-mini", "Umbrella in Lisbon?", weather, per_turn),
        ("coding-agent", "claude-sonnet-4-5", "Test hangs at exit", code, per_turn),
        ("support-agent", "gpt-5-mini", "Cancel order 1042", support, per_turn),
    ]


def run_demo(where: str | Path, echo: Callable[[str], object]) -> tuple[str, list[SessionSummary]]:
    """Record the demo sessions into ``where`` (a file or a ``postgresql://`` URL), prune to a
    few, and return where they are (for people: no password) and what is kept."""
    config = HistoryConfig.model_validate(
        {
            "enabled": True,
            "db_path": where,
            "max_sessions": DEMO_MAX_SESSIONS,
            "max_age": timedelta(days=30),
        }
    )
    with SyncSessionHistory(config, plugins=[PrintingPlugin(echo)]) as history:
        run = uuid.uuid4().hex[:6]
        for agent, model, title, turns, usage in _conversations():
            session_id = f"{agent}-{run}"
            echo(f"recording {session_id} ({title})")
            history.create_session(
                Session(
                    session_id=session_id,
                    agent_name=agent,
                    model=model,
                    started_at=utc_now(),
                    metadata={"title": title, "source": "demo"},
                )
            )
            for turn in turns:
                assistant = any(m.role == "assistant" for m in turn)
                history.append_messages(session_id, turn, usage=usage if assistant else None)
            # Saving a session whose stored messages are a prefix writes only what is new:
            # here nothing, just the end time.
            session = history.load_session(session_id)
            assert session is not None
            history.save_session(session.model_copy(update={"ended_at": utc_now()}))
        echo(f"pruning to the {DEMO_MAX_SESSIONS} newest sessions")
        pruned = history.enforce_max_sessions()
        echo(f"  {pruned} session(s) pruned")
        return config.location, history.list_sessions()
