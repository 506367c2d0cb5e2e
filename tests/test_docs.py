"""The README is the documentation: these tests keep it true (as sqlite-utils' test_docs.py does).

Every CLI command, hook and fixture has a row in the README's tables, every CLI command has help,
and every Python block of the README runs: a block of tests runs under pytest (with this
repository's plugins), any other as a script, each in a directory of its own with warnings as
errors. A block that cannot run here (it needs a model or a server) follows a line
``<!-- not run: why -->``, which says why.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from session_history._plugins import make_plugin_manager
from session_history.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"
NOT_RUN = re.compile(r"^<!-- not run: .+ -->$")
RUN_ELSEWHERE = "Testing agents"
"""The section whose test blocks ``pytest_plugin/tests/test_agent_helpers.py`` runs, under
pytest-asyncio and anyio both: not run a third time here."""
DOCUMENTED_WARNING = "LangChainDeprecationWarning: RunnableWithMessageHistory is deprecated"


@dataclass(frozen=True)
class Block:
    line: int
    code: str
    run: bool


def python_blocks() -> list[Block]:
    blocks: list[Block] = []
    lines = README.read_text().splitlines()
    heading = ""
    for number, line in enumerate(lines):
        if line.startswith("## "):
            heading = line[3:]
        if line.strip() != "```python":
            continue
        end = lines.index("```", number + 1)
        previous = next((x for x in reversed(lines[:number]) if x.strip()), "")
        code = "\n".join(lines[number + 1 : end]) + "\n"
        elsewhere = heading == RUN_ELSEWHERE and "\nasync def test_" in code
        run = not NOT_RUN.match(previous.strip()) and not elsewhere
        blocks.append(Block(number + 1, code, run))
    return blocks


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_every_cli_command_is_in_the_readme_and_has_help() -> None:
    table = section("The CLI")
    assert isinstance(cli, click.Group)
    for name, command in cli.commands.items():
        assert f"| `{name}" in table, f"the CLI table has no row for {name!r}"
        assert command.help and command.help.strip(), f"{name!r} has no help"


def test_every_hook_is_in_the_readme() -> None:
    table = section("Hooks")
    pm = make_plugin_manager(load_entrypoints=False)
    names = [name for name in dir(pm.hook) if name.startswith("session_history_")]
    assert names
    for name in names:
        assert f"| `{name}(" in table, f"the hooks table has no row for {name!r}"


def test_every_fixture_is_in_the_readme() -> None:
    from pytest_session_history import fixtures

    table = section("pytest fixtures")
    for name in fixtures.__all__:
        assert f"| `{name}`" in table, f"the fixtures table has no row for {name!r}"


def test_every_block_that_is_not_run_says_why() -> None:
    blocks = python_blocks()
    assert sum(block.run for block in blocks) >= len(blocks) // 2, "most blocks should run"


@pytest.mark.parametrize("block", [b for b in python_blocks() if b.run], ids=lambda b: f"L{b.line}")
def test_a_readme_python_block_runs(block: Block, tmp_path: Path) -> None:
    env = {**os.environ, "SESSION_HISTORY_DB": str(tmp_path / "history.db")}
    env.pop("PYTEST_ADDOPTS", None)
    if re.search(r"^(async )?def test_", block.code, re.M):
        (tmp_path / "test_readme.py").write_text(block.code)
        (tmp_path / "pytest.ini").write_text(
            "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        )
        command = [sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider"]
        # Installed for other tests, used by no README block, and about a second each to load.
        command += ["-p", "no:hypothesispytest", "-p", "no:langsmith_plugin"]
    else:
        (tmp_path / "block.py").write_text(block.code)
        command = [sys.executable, "-W", "error", "block.py"]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"README.md line {block.line}:\n{done.stdout}\n{done.stderr}"
    # The one warning the README announces (langchain-core prints it whatever -W says).
    warned = [line for line in done.stderr.splitlines() if "Warning" in line]
    assert all(DOCUMENTED_WARNING in line for line in warned), done.stderr
