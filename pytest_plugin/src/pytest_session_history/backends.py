"""Which backend each test's store runs on: parametrizing, deselecting, and saying so once.

A test that uses a function-scoped store (it asks, through its fixtures, for
``session_history_backend``) runs once per backend asked for (``--session-history-backends``,
ini ``session_history_backends``). A backend that cannot run here (PostgreSQL without a URL) is
left out with one line in the report header, not a skipped test per test. The marker's
``backends=[...]`` narrows where one test runs.
"""

from __future__ import annotations

import pytest

from .options import URL_ENV_VAR, available_backends, backends

__all__ = ["deselect_unavailable", "driver_check", "header", "parametrize"]

FIXTURE = "session_history_backend"
TEMPLATE = "session_history_template"


def _wanted(node: pytest.Item | pytest.Collector) -> list[str] | None:
    """The backends the closest ``session_history(backends=...)`` marker names, if any."""
    for marker in node.iter_markers("session_history"):
        if "backends" in marker.kwargs:
            return [str(name) for name in marker.kwargs["backends"]]
    return None


def parametrize(metafunc: pytest.Metafunc) -> None:
    if FIXTURE not in metafunc.fixturenames:
        return
    wanted = _wanted(metafunc.definition)
    chosen = [
        name for name in available_backends(metafunc.config) if wanted is None or name in wanted
    ]
    # One backend adds nothing to a test's id; several name each run. None: deselected below.
    if chosen and (len(backends(metafunc.config)) > 1 or wanted is not None):
        metafunc.parametrize(FIXTURE, chosen, indirect=True, ids=chosen)


def deselect_unavailable(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the tests whose marker names only backends that cannot run here, and, when no
    backend asked for can run (PostgreSQL alone, without a URL), every test that needs a
    database (reported as deselected, and by the header line)."""
    offered = set(available_backends(config))
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        wanted = _wanted(item)
        unplaced = wanted is not None and not offered & set(wanted)
        if not offered and _needs_a_database(item):
            unplaced = True
        (dropped if unplaced else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def _needs_a_database(item: pytest.Item) -> bool:
    """Whether a store fixture is among the test's: every database, of any scope, is made
    with the template."""
    return TEMPLATE in getattr(item, "fixturenames", ())


def header(config: pytest.Config) -> str | None:
    """One line when a backend asked for cannot run, saying how to run it."""
    missing = [name for name in backends(config) if name not in available_backends(config)]
    if not missing:
        return None
    return (
        "session-history: the PostgreSQL tests are not run (no URL); run them with "
        f"--session-history-url postgresql://... or ${URL_ENV_VAR}"
    )


def driver_check(config: pytest.Config) -> None:
    """PostgreSQL asked for without its driver: one line naming the extra, before any test."""
    if "postgresql" not in available_backends(config):
        return
    try:
        import asyncpg  # noqa: F401
    except ModuleNotFoundError:
        raise pytest.UsageError(
            "session-history's PostgreSQL fixtures need the asyncpg driver, which is not "
            "installed; from a checkout of session-history (it is not on PyPI), install it "
            'with: pip install -e ".[postgres]" (or pip install asyncpg)'
        ) from None
