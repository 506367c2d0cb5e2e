"""The public surface is what __all__ says, sorted, and every name in it exists."""

import session_history

EXPECTED = {
    "ChatMessage",
    "ConnectionLostError",
    "DatabaseError",
    "HistoryConfig",
    "HookError",
    "InvalidQueryError",
    "MigrationError",
    "NotADatabaseError",
    "Role",
    "SchemaTooNewError",
    "Session",
    "SessionExistsError",
    "SessionHistory",
    "SessionHistoryError",
    "SessionNotFoundError",
    "SessionSummary",
    "StoreClosedError",
    "SyncSessionHistory",
    "ToolCall",
    "Usage",
    "hookimpl",
    "run_sync",
}


def test_all_is_sorted_and_complete() -> None:
    assert session_history.__all__ == sorted(session_history.__all__)
    assert set(session_history.__all__) == EXPECTED
    for name in session_history.__all__:
        assert getattr(session_history, name) is not None


def test_every_error_derives_from_session_history_error_and_is_documented() -> None:
    from session_history import _errors as errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, session_history.SessionHistoryError), name
        assert cls.__doc__, name
        assert name in errors.__doc__, f"{name} missing from the tree in errors.py's docstring"
