"""The pydantic models: roles, times, usage, counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from session_history import ChatMessage, HistoryConfig, Role, Session, ToolCall, Usage
from session_history._config import default_db_path
from session_history._models import message_counts


def test_roles_accept_plain_strings_in_any_case() -> None:
    assert ChatMessage(role="user").role is Role.USER
    assert ChatMessage(role="Assistant").role is Role.ASSISTANT
    assert ChatMessage(role=Role.TOOL).role == "tool"
    with pytest.raises(ValidationError):
        ChatMessage(role="wizard")


def test_times_are_normalised_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    message = ChatMessage(role="user", timestamp=datetime(2026, 1, 1, 13, 0, tzinfo=paris))
    assert message.timestamp == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert message.timestamp is not None and message.timestamp.tzinfo is UTC
    naive = Session(session_id="s", agent_name="a", model="m", started_at=datetime(2026, 1, 1, 12))
    assert naive.started_at == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_usage_keeps_provider_details_and_adds_up() -> None:
    a = Usage(input_tokens=1, output_tokens=2, total_tokens=3, cache_read_tokens=5)
    b = Usage.model_validate(
        {
            "input_tokens": 10,
            "total_tokens": 10,
            "details": {"reasoning": 4},
            "cache_read_tokens": 1,
        }
    )
    total = a + b
    assert (total.input_tokens, total.output_tokens, total.total_tokens) == (11, 2, 13)
    assert total.model_dump()["cache_read_tokens"] == 6
    assert total.model_dump()["details"] == {"reasoning": 4}


def test_message_counts_follow_the_reference() -> None:
    messages = [
        ChatMessage(role="assistant", content="a"),
        ChatMessage(role="assistant", tool_calls=[ToolCall(id="1", name="x")]),
        ChatMessage(role="user", content="u", tool_calls=[ToolCall(id="2", name="y")]),
    ]
    assert message_counts(messages) == (1, 2)


def test_session_ids_must_not_be_empty() -> None:
    with pytest.raises(ValidationError):
        Session(session_id="", agent_name="a", model="m")


def test_metadata_must_be_json() -> None:
    with pytest.raises(ValidationError):
        ChatMessage(role="user", metadata={"x": object()})


def test_config_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SESSION_HISTORY_DB", raising=False)
    config = HistoryConfig()
    assert config.enabled is False
    assert config.db_path.name == "history.db"
    assert config.max_sessions is None and config.max_age is None
    monkeypatch.setenv("SESSION_HISTORY_DB", "/somewhere/else.db")
    assert str(default_db_path()) == "/somewhere/else.db"
