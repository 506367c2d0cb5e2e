"""Memory of one huge session: ``show`` (text, ``--markdown``, ``--json``), ``export`` and
``import`` of a session of a million messages, each through the CLI in a child process, and
each child's peak RSS.

Run by hand: ``python bench/bench_memory_huge.py [--messages 1000000] [--src DIR]``. The session
is built with the library (appends of 10,000 messages, short ones: its export line is about
84 bytes a message, 84 MB for a million, as in issue 20); ``--messages 20000`` runs in seconds.
``--src DIR`` runs the children on another checkout's ``src`` (``PYTHONPATH``), to compare with
an earlier version on the same database. The peak is the child's own high-water mark
(``VmHWM`` in ``/proc/self/status``, read as it exits: ``ru_maxrss`` would count the memory of
this process at the fork, which the child carries until its exec). Everything lives in a
temporary directory, removed at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine_load

from session_history import ChatMessage, HistoryConfig, Session, SyncSessionHistory

CHUNK = 10_000
HWM = """
import atexit, sys
from session_history.cli import main

def hwm():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                sys.stderr.write(f"VmHWM {line.split()[1]}\\n")

atexit.register(hwm)
sys.argv[0] = "session-history"
main()
"""
"""The CLI, reporting its own peak RSS (kB) on standard error as it exits."""


def peak_rss(args: list[str], log: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of the CLI run with ``args`` in a child process."""
    start = time.perf_counter()
    with log.open("w") as err:
        done = subprocess.run(
            [sys.executable, "-c", HWM, *args], stdout=subprocess.DEVNULL, stderr=err
        )
    seconds = time.perf_counter() - start
    text = log.read_text()
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{text[-2000:]}")
    (kb,) = [line.split()[1] for line in text.splitlines() if line.startswith("VmHWM ")]
    return seconds, int(kb) / 1024


def build(database: Path, messages: int) -> None:
    config = HistoryConfig(enabled=True, db_path=database, load_entrypoint_plugins=False)
    with SyncSessionHistory(config) as history:
        history.create_session(Session(session_id="huge", agent_name="bench", model="m"))
        for start in range(0, messages, CHUNK):
            history.append_messages(
                "huge",
                [
                    ChatMessage(role="user" if i % 2 else "assistant", content=f"message {i}")
                    for i in range(start, min(start + CHUNK, messages))
                ],
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--src", type=Path, help="run the children on this src directory")
    parser.add_argument("--dir", type=Path, help="make the temporary directory in here")
    args = parser.parse_args()
    if args.src is not None:
        os.environ["PYTHONPATH"] = str(args.src.resolve())
    print(f"bench_memory_huge --messages {args.messages:,}; at start: {machine_load()}")
    with tempfile.TemporaryDirectory(prefix="bench-huge-", dir=args.dir) as directory:
        d = Path(directory)
        database, exported, again = d / "history.db", d / "export.jsonl", d / "again.db"
        start = time.perf_counter()
        build(database, args.messages)
        print(f"built in {time.perf_counter() - start:.0f} s", flush=True)
        db = ["--db", str(database)]
        runs = {
            "show": [*db, "show", "huge"],
            "show --markdown": [*db, "show", "huge", "--markdown"],
            "show --json": [*db, "show", "huge", "--json"],
            "export": [*db, "export", "-o", str(exported)],
            "import": ["--db", str(again), "import", str(exported)],
        }
        print("| command | seconds | peak RSS (MB) |\n| --- | ---: | ---: |")
        for label, argv in runs.items():
            seconds, peak = peak_rss(argv, d / "child.log")
            print(f"| `{label}` | {seconds:.1f} | {peak:,.0f} |", flush=True)
            if label == "export":
                size = exported.stat().st_size
                print(f"(export line: {size / 1e6:,.1f} MB)", file=sys.stderr, flush=True)
    print(f"at end: {machine_load()}")


if __name__ == "__main__":
    main()
