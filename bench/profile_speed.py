"""Targets for a profiler: many one-message appends, or one import, and nothing else; and a
summary of py-spy's output by thread and by function.

Run by hand, under py-spy (it samples every thread, the event loop's and aiosqlite's worker's
alike, which cProfile cannot)::

    py-spy record --threads -r 1000 -f raw -o append.txt -- python bench/profile_speed.py append
    python bench/profile_speed.py summary append.txt

``append [N]`` makes N one-message appends through the async door (default 20,000);
``import [SESSIONS]`` imports a generated export of SESSIONS sessions of 40 messages (default
5,000) into an empty database. The temporary directory is removed at the end.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import TEXT, write_export

from session_history import ChatMessage, HistoryConfig, Session, SessionHistory


def config(path: Path) -> HistoryConfig:
    return HistoryConfig(enabled=True, db_path=path, load_entrypoint_plugins=False)


async def appends(directory: Path, n: int) -> None:
    message = [ChatMessage(role="user", content=TEXT)]
    async with SessionHistory(config(directory / "append.db")) as history:
        await history.create_session(Session(session_id="s", agent_name="a", model="m"))
        start = time.perf_counter()
        for _ in range(n):
            await history.append_messages("s", message)
        seconds = time.perf_counter() - start
    print(f"{n:,} appends: {n / seconds:,.0f}/s, {seconds / n * 1e6:.0f} us each")


async def import_export(directory: Path, sessions: int) -> None:
    export = directory / "export.jsonl"
    _, messages = write_export(export, sessions, 40)
    async with SessionHistory(config(directory / "import.db")) as history:
        start = time.perf_counter()
        with export.open(encoding="utf-8") as lines:
            report = await history.import_jsonl(lines)
        seconds = time.perf_counter() - start
    assert report.added == sessions
    print(f"import of {messages:,} messages: {messages / seconds:,.0f} msgs/s ({seconds:.1f} s)")


_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:]*)(?P<line>:\d+)?\)$")


def _frame(text: str, *, line: bool = False) -> str:
    """``function (path/to/module.py:12)`` as ``module.py:function`` (or ``module.py:12
    function`` with ``line``: where in a function the time goes, and which samples are a
    thread waiting, such as aiosqlite's worker in ``tx.get()`` or the loop in ``select``)."""
    match = _FRAME.match(text)
    if match is None:
        return text
    if line:
        return f"{Path(match['file']).name}{match['line'] or ''} {match['function']}"
    return f"{Path(match['file']).name}:{match['function']}"


def summary(path: Path, top: int = 25) -> None:
    """Samples by thread, then the functions most often on the stack (inclusive) and the lines
    at its top (self), from py-spy's ``-f raw`` (collapsed stacks) output."""
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        threads[frames[0]] += count
        for frame in set(map(_frame, frames[1:])):
            inclusive[frame] += count
        own[_frame(frames[-1], line=True)] += count
    print(f"{total:,} samples")
    for title, counter in (("by thread", threads), ("inclusive", inclusive), ("self", own)):
        print(f"\n{title}:")
        for name, count in counter.most_common(top):
            print(f"  {count / total:6.1%}  {name}")


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "append"
    if what == "summary":
        summary(Path(sys.argv[2]))
        return
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as directory:
        if what == "append":
            n = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
            asyncio.run(appends(Path(directory), n))
        elif what == "import":
            sessions = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000
            asyncio.run(import_export(Path(directory), sessions))
        else:
            raise SystemExit(f"unknown target {what!r}: append, import or summary")


if __name__ == "__main__":
    main()
