"""What a failing test's report says about its database."""

from __future__ import annotations

from session_history.testing import describe_database

__all__ = ["describe_database"]
