"""Command-line and ini options. Each ini option has a command-line twin, which wins."""

from __future__ import annotations

import os

import pytest

__all__ = [
    "BACKENDS",
    "URL_ENV_VAR",
    "add_options",
    "available_backends",
    "backends",
    "database_url",
    "keep_databases",
]

URL_ENV_VAR = "SESSION_HISTORY_TEST_POSTGRES_URL"
"""Where the PostgreSQL URL comes from when neither the command line nor the ini file says."""

BACKENDS = ("sqlite", "postgresql")


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
        f"own that is dropped afterwards (ini: session_history_url; else ${URL_ENV_VAR} when "
        "the backends include postgresql)",
    )
    group.addoption(
        "--session-history-backends",
        dest="session_history_backends",
        default=None,
        help="comma-separated: sqlite, postgresql. With both, every test that uses a store runs "
        "once on each (ini: session_history_backends)",
    )
    parser.addini(
        "session_history_url",
        default="",
        help="a postgresql:// URL for the stores the fixtures give (--session-history-url)",
    )
    parser.addini(
        "session_history_backends",
        type="linelist",
        default=[],
        help="the backends each store test runs on: sqlite, postgresql "
        "(--session-history-backends)",
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
    """The PostgreSQL URL: the command line, else the ini file, else the environment."""
    option = config.getoption("session_history_url")
    if option:
        return str(option)
    ini = str(config.getini("session_history_url") or "")
    return ini or os.environ.get(URL_ENV_VAR) or None


def backends(config: pytest.Config) -> list[str]:
    """The backends asked for: the option or ini list, else PostgreSQL when a URL was given on
    the command line or in the ini file, else SQLite."""
    option = config.getoption("session_history_backends")
    listed = option.split(",") if option else list(config.getini("session_history_backends"))
    names = [name.strip().lower() for name in listed if name.strip()]
    for name in names:
        if name not in BACKENDS:
            raise pytest.UsageError(
                f"unknown session-history backend {name!r}; use {' or '.join(BACKENDS)}"
            )
    if names:
        return list(dict.fromkeys(names))
    explicit = config.getoption("session_history_url") or config.getini("session_history_url")
    return ["postgresql"] if explicit else ["sqlite"]


def available_backends(config: pytest.Config) -> list[str]:
    """The backends asked for that can run: PostgreSQL only with a URL."""
    url = database_url(config)
    return [name for name in backends(config) if name != "postgresql" or url]
