"""What a failing test's report says about its database."""

from __future__ import annotations

from pathlib import Path

from session_history import HistoryConfig, SessionHistoryError, SyncSessionHistory
from session_history.render import sessions_table

__all__ = ["describe_database"]

MAX_ROWS = 10


def describe_database(path: Path | str) -> str:
    """Where it is, and a short table of the newest sessions in it."""
    config = HistoryConfig.model_validate(
        {"enabled": True, "db_path": str(path), "load_entrypoint_plugins": False}
    )
    lines = [
        f"kept at {config.location}",
        f"browse it: session-history --db {config.location} list",
    ]
    try:
        with SyncSessionHistory(config) as history:
            count = history.session_count()
            summaries = history.list_sessions(limit=MAX_ROWS)
    except SessionHistoryError as exc:
        return "\n".join([*lines, f"(could not read it: {exc})"])
    lines.append(f"{count} session(s)" + (f", newest {MAX_ROWS}:" if count > MAX_ROWS else ":"))
    if summaries:
        lines.append(sessions_table(summaries))
    return "\n".join(lines)
