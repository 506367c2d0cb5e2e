"""Targets for a profiler: many one-message appends, or one import, and nothing else; and a
summary of py-spy's output by thread and by function.

Run by hand, under py-spy (it samples every thread, the event loop's and aiosqlite's worker's
alike, which cProfile cannot)::

    py-spy record --threads -r 1000 -f raw -o append.txt -- python bench/profile_speed.py append
    python bench/profile_speed.py summary append.txt 20000  # microseconds per append

    python bench/profile_speed.py export /tmp/export.jsonl 5000
    py-spy record --threads -r 1000 -f raw -o import.txt -- \
        python bench/profile_speed.py import /tmp/export.jsonl
    python bench/profile_speed.py summary import.txt

``append [N]`` makes N one-message appends through the async door (default 20,000) into a new
database; ``export FILE [SESSIONS]`` writes a generated export of SESSIONS sessions of 40
messages (default 5,000: the import row of bench_speed.py), so that ``import FILE``, profiled,
does nothing but import it into a new database. Databases live in a temporary directory,
removed at the end.
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


async def import_file(directory: Path, export: Path) -> None:
    async with SessionHistory(config(directory / "import.db")) as history:
        start = time.perf_counter()
        with export.open(encoding="utf-8") as lines:
            report = await history.import_jsonl(lines)
        seconds = time.perf_counter() - start
        messages = (await history.stats()).messages
    assert not report.errors, report.errors[:3]
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


def summary(path: Path, calls: int | None = None, rate: int = 1000, top: int = 15) -> None:
    """Samples by thread, then for each thread the functions most often on its stack
    (inclusive) and the lines at its top (self), from py-spy's ``-f raw`` (collapsed stacks)
    output. With ``calls`` (how many appends the run made) and py-spy's sampling ``rate``,
    figures are microseconds per call instead of shares of the samples."""
    threads: Counter[str] = Counter()
    inclusive: dict[str, Counter[str]] = {}
    own: dict[str, Counter[str]] = {}
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        thread, *frames = stack.split(";")
        thread = thread.split(": ", 1)[-1] if ": " in thread else "(unnamed: start-up)"
        threads[thread] += count
        for frame in set(map(_frame, frames)):
            inclusive.setdefault(thread, Counter())[frame] += count
        if frames:
            own.setdefault(thread, Counter())[_frame(frames[-1], line=True)] += count
    total = sum(threads.values())

    def show(count: int) -> str:
        if calls:
            return f"{count / rate / calls * 1e6:7.1f} us"
        return f"{count / total:7.1%}"

    print(f"{total:,} samples" + (f", {calls:,} calls, {rate} samples/s" if calls else ""))
    for thread, count in threads.most_common():
        print(f"\n{show(count)}  thread {thread}")
        for title, counters in (("inclusive", inclusive), ("self", own)):
            print(f"  {title}:")
            for name, n in counters.get(thread, Counter()).most_common(top):
                print(f"    {show(n)}  {name}")


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "append"
    if what == "summary":
        calls = int(sys.argv[3]) if len(sys.argv) > 3 else None
        summary(Path(sys.argv[2]), calls)
        return
    if what == "export":
        sessions = int(sys.argv[3]) if len(sys.argv) > 3 else 5_000
        _, messages = write_export(Path(sys.argv[2]), sessions, 40)
        print(f"wrote {messages:,} messages in {sessions:,} sessions to {sys.argv[2]}")
        return
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as directory:
        if what == "append":
            n = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
            asyncio.run(appends(Path(directory), n))
        elif what == "import":
            asyncio.run(import_file(Path(directory), Path(sys.argv[2])))
        else:
            raise SystemExit(f"unknown target {what!r}: append, export, import or summary")


if __name__ == "__main__":
    main()
