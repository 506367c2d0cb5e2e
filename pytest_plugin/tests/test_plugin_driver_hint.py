"""The PostgreSQL fixtures without their driver: one line saying how to install it from a
checkout (the package is not on PyPI, so no ``pip install "session-history[postgres]"``)."""

from __future__ import annotations

import sys

import pytest

from pytest_session_history import backends


def test_the_missing_driver_hint_points_at_the_checkout(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # import asyncpg now fails
    monkeypatch.setattr(backends, "available_backends", lambda config: ["sqlite", "postgresql"])
    with pytest.raises(pytest.UsageError) as raised:
        backends.driver_check(pytestconfig)
    message = str(raised.value)
    assert '-e ".[postgres]"' in message and "not on PyPI" in message
    assert "session-history[postgres]" not in message and "\n" not in message
