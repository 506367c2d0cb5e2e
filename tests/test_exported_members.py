"""The public surface is what __all__ says, sorted, as the README lists it, and every name in it
exists."""

import re
from pathlib import Path

import session_history

README = Path(__file__).resolve().parents[1] / "README.md"


def documented_names() -> set[str]:
    """The names the README's "Layout" section lists as what ``session_history`` exports: the
    public surface is pinned there, where a change to it is seen by readers too."""
    text = README.read_text()
    listed = text.split("exports these names:", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"`(\w+)`", listed))


def test_all_is_sorted_complete_and_as_the_readme_lists_it() -> None:
    assert session_history.__all__ == sorted(session_history.__all__)
    assert set(session_history.__all__) == documented_names()
    for name in session_history.__all__:
        assert getattr(session_history, name) is not None


def test_every_error_derives_from_session_history_error_and_is_documented() -> None:
    from session_history import _errors as errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, session_history.SessionHistoryError), name
        assert cls.__doc__, name
        assert name in errors.__doc__, f"{name} missing from the tree in _errors.py's docstring"
