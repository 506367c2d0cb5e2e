"""Command-line and ini options. Each ini option has a command-line twin, which wins."""

from __future__ import annotations

import pytest

__all__ = ["add_options", "database_url", "keep_databases"]


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("session-history", "session-history test databases")
    group.addoption(
        "--session-history-keep",
        action="store_true",
        dest="session_history_keep",
        default=None,
        help="keep each test's session-history database; a failing test's report shows it "
        "(ini: session_history_keep)",
    )
    group.addoption(
        "--session-history-no-keep",
        action="store_false",
        dest="session_history_keep",
        help="remove each test's database after it, whatever the ini file says",
    )
    group.addoption(
        "--session-history-url",
        dest="session_history_url",
        default=None,
        help="a postgresql:// URL: give each test a PostgreSQL-backed store, in a schema of its "
        "own that is dropped afterwards (ini: session_history_url)",
    )
    parser.addini(
        "session_history_url",
        default="",
        help="a postgresql:// URL for the stores the fixtures give (--session-history-url)",
    )
    parser.addini(
        "session_history_keep",
        type="bool",
        default=False,
        help="keep each test's session-history database (--session-history-keep)",
    )


def keep_databases(config: pytest.Config) -> bool:
    option = config.getoption("session_history_keep")
    if option is not None:
        return bool(option)
    return bool(config.getini("session_history_keep"))


def database_url(config: pytest.Config) -> str | None:
    """The PostgreSQL URL the fixtures use, if any (command line first, then the ini file)."""
    option = config.getoption("session_history_url")
    if option:
        return str(option)
    ini = str(config.getini("session_history_url") or "")
    return ini or None
