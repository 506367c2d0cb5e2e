"""PostgreSQL open/close cycles: does the process grow with each store opened and closed?

Run by hand: ``python bench/bench_pg_cycles.py postgresql://postgres@127.0.0.1:5432/test
[--cycles 1000] [--blocks 3] [--warmup 100] [--mode M] [--trim]``. Each cycle makes a
``SessionHistory`` on the URL, opens it, reads one summary and closes it, in one of three ways:
all cycles in one event loop (``same-loop``), each cycle in an ``asyncio.run`` of its own
(``loop-per-cycle``: a script run again and again, or a test suite's per-test loops), and the
blocking door (``blocking``: ``SyncSessionHistory``, on the background loop). The RSS is read
from /proc after ``warmup`` cycles (caches and the driver's first-use costs filled) and again
after each of ``blocks`` blocks of ``cycles`` more, with a ``gc.collect()`` before each reading;
the figures are the growth over each block, per 1,000 cycles: a leak grows by the same amount in
every block, the allocator's own settling (bare asyncpg pools made and closed show it too) less
in each. With ``--trim`` each reading follows ``malloc_trim(0)``, which hands glibc's free
memory back to the system: what is left is what the process still uses (a leak would show), not
what fragmentation keeps. A leaked connection would also show: the server's count of this run's
connections is printed at the end (it must be 0). The schema is made fresh and dropped at the
end.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import itertools
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from common import machine_load

from session_history import HistoryConfig, SessionHistory, SyncSessionHistory, testing
from session_history._urls import with_schema


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def trimmed_rss_mb() -> float:
    """The RSS once glibc has handed its free memory back (``malloc_trim``): what is still
    in use. The plain RSS also counts memory freed but kept by the allocator, which grows and
    shrinks with fragmentation whatever the program keeps."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_mb()


async def _cycle(config: HistoryConfig) -> None:
    async with SessionHistory(config) as history:
        await history.get_summary("s")


def same_loop(config: HistoryConfig, n: int) -> None:
    async def run() -> None:
        for _ in range(n):
            await _cycle(config)

    asyncio.run(run())


def loop_per_cycle(config: HistoryConfig, n: int) -> None:
    for _ in range(n):
        asyncio.run(_cycle(config))


def blocking(config: HistoryConfig, n: int) -> None:
    for _ in range(n):
        with SyncSessionHistory(config) as history:
            history.get_summary("s")


MODES: dict[str, Callable[[HistoryConfig, int], None]] = {
    "same-loop": same_loop,
    "loop-per-cycle": loop_per_cycle,
    "blocking": blocking,
}


async def _connections(dsn: str, name: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(50):  # a closed connection's backend leaves the view a moment later
            found = int(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name
                )
            )
            if found == 0:
                break
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="a PostgreSQL server URL (a schema is made there and dropped)")
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--trim", action="store_true", help="read the RSS after malloc_trim(0)")
    parser.add_argument("--mode", choices=[*MODES, "all"], default="all")
    args = parser.parse_args()
    name = f"sh-bench-cycles-{uuid.uuid4().hex[:8]}"
    separator = "&" if "?" in args.url else "?"
    url = with_schema(f"{args.url}{separator}application_name={name}", f"bench_{name[-8:]}")
    config = HistoryConfig(enabled=True, url=url, load_entrypoint_plugins=False)
    print(machine_load())
    try:
        for mode, run in MODES.items():
            if args.mode not in (mode, "all"):
                continue
            run(config, args.warmup)
            gc.collect()
            read = trimmed_rss_mb if args.trim else rss_mb
            readings = [read()]
            for _ in range(args.blocks):
                run(config, args.cycles)
                gc.collect()
                readings.append(read())
            growth = ", ".join(
                f"{(after - before) * 1000 / args.cycles:+.2f}"
                for before, after in itertools.pairwise(readings)
            )
            name = "trimmed RSS" if args.trim else "RSS"
            print(
                f"{mode:>15}: {name} {readings[0]:6.1f} MB -> {readings[-1]:6.1f} MB over "
                f"{args.blocks} x {args.cycles} cycles; MB per 1,000, by block: {growth}"
            )
    finally:
        testing.drop_schema(url)
    left = asyncio.run(_connections(args.url, name))
    print(f"connections of this run still open on the server: {left}")
    if left:
        sys.exit(1)


if __name__ == "__main__":
    main()
