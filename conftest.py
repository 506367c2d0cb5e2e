"""For every test suite of this repository: each test runs in its own temporary directory, so
nothing a test writes by a relative path (a database, a URL taken for a file name) can land in
the working tree. ``.ci/run`` also fails when the tests leave any file in the checkout."""

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _in_a_temporary_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
