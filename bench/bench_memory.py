"""Memory: import a ~1 GB export, then export the ~1-million-message database it makes, each
through the CLI in a child process, and report each child's peak RSS.

Run by hand: ``python bench/bench_memory.py [--scale 1.0] [--dir PARENT]``. The export is
generated line by line straight to disk (never whole in memory): sessions of 40 messages of
about 1,000 bytes each (211 words from the benchmarks' Zipf vocabulary, every fourth message an
assistant message with a tool call), so 1 GB holds about a million messages. ``--scale 0.02``
does the same with 20 MB in well under a minute. The peak comes from the kernel
(``os.wait4``'s ``ru_maxrss`` for that child alone); the RSS is also sampled every 0.1 s, and
its peak in each quarter of the run shows whether memory grows with the file. Everything lives
in a temporary directory, removed at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import machine_load, write_export

from session_history import HistoryConfig, SyncSessionHistory

GB = 10**9
PER_SESSION = 40
WORDS = 211
"""Words per message: just under 1,000 bytes of JSON each: a 1 GB export holds a million."""


@dataclass
class ChildRun:
    """How one child process ran: wall time, peak RSS, and RSS samples over time (MB)."""

    seconds: float
    peak_mb: float
    samples: list[float]

    def quarters(self) -> str:
        """The largest sample in each quarter of the run, oldest first."""
        if len(self.samples) < 4:
            return "too short a run to sample"
        n = len(self.samples)
        parts = [self.samples[i * n // 4 : (i + 1) * n // 4] for i in range(4)]
        return (
            "largest sample by quarter of the run: "
            + " / ".join(f"{max(part):,.0f}" for part in parts)
            + " MB"
        )


def cli() -> str:
    """The ``session-history`` command installed beside this interpreter."""
    command = Path(sys.executable).with_name("session-history")
    if not command.exists():
        raise SystemExit(f"no {command}: install the package first (pip install -e .)")
    return str(command)


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:  # it has just ended
        return None
    return None


def run_child(args: list[str], log: Path) -> ChildRun:
    """Run ``args``, sampling its RSS until it ends; its own peak RSS from ``wait4``."""
    samples: list[float] = []
    with log.open("w") as err:
        start = time.perf_counter()
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            sample = rss_mb(process.pid)
            if sample is not None and sample > 5:  # not the moments around its exec
                samples.append(sample)
            time.sleep(0.1)
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{log.read_text()[-2000:]}")
    return ChildRun(seconds, usage.ru_maxrss / 1024, samples)  # ru_maxrss is in KiB on Linux


def report(label: str, run: ChildRun, messages: int) -> None:
    print(
        f"{label}: {run.seconds:.1f} s, {messages / run.seconds:,.0f} msgs/s, "
        f"peak RSS {run.peak_mb:,.0f} MB ({run.quarters()})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 is a 1 GB export")
    parser.add_argument("--dir", type=Path, help="make the temporary directory in here")
    args = parser.parse_args()
    command = cli()
    print(f"bench_memory --scale {args.scale}; at start: {machine_load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-memory-", dir=args.dir) as directory:
        d = Path(directory)
        source, database, exported = d / "export.jsonl", d / "history.db", d / "again.jsonl"

        start = time.perf_counter()
        target = int(args.scale * GB)
        sessions, messages = write_export(
            source, sys.maxsize, PER_SESSION, words=WORDS, max_bytes=target
        )
        size = source.stat().st_size
        print(
            f"export file: {size / GB:.3f} GB, {sessions:,} sessions, {messages:,} messages "
            f"(written in {time.perf_counter() - start:.0f} s)",
            flush=True,
        )

        imported = run_child([command, "--db", str(database), "import", str(source)], d / "i.log")
        report("import (CLI, child process)", imported, messages)
        source.unlink()  # the disk holds the file, the database and the new export otherwise

        config = HistoryConfig(enabled=True, db_path=database, load_entrypoint_plugins=False)
        with SyncSessionHistory(config) as history:
            stored = history.stats()
        assert stored.messages == messages, (stored.messages, messages)
        print(
            f"database: {stored.sessions:,} sessions, {stored.messages:,} messages, "
            f"{(stored.size_bytes or 0) / GB:.2f} GB",
            flush=True,
        )

        out = run_child(
            [command, "--db", str(database), "export", "-o", str(exported)], d / "e.log"
        )
        report("export (CLI, child process)", out, stored.messages)
        with exported.open(encoding="utf-8") as lines:
            assert sum(1 for _ in lines) == stored.sessions
    print(f"at end: {machine_load()}")


if __name__ == "__main__":
    main()
