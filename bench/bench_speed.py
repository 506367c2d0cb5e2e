"""Issue 12's table (the write path's speed), measured side by side with the peers in one run.

Run by hand: ``pip install -e ".[bench,postgres]"`` then
``python bench/bench_speed.py [--quick] [--postgres URL] [--rows 1,2,5] [--rounds N]``.

Each row runs its contenders in interleaved rounds (A, B, A, B...) and is judged by the median
of the per-round ratios, so a neighbour's burst of load hits both sides of a ratio alike. The
load average is printed at the start, before each row and at the end: absolute figures from a
busy machine are rough; ratios taken side by side are what count. ``--quick`` runs every row at
a reduced size in about a minute (the figures' labels say the sizes; the full size takes two to
four minutes on a 2-core machine). The PostgreSQL rows need
``--postgres URL``; they make a fresh schema and table there and drop them at the end.
Everything else lives in a temporary directory, removed at the end.
"""

from __future__ import annotations

import argparse
import functools
import platform
import sqlite3
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path

from common import Row, machine_load, print_table, write_export
from speed_bulk import row_import, row_prune
from speed_sqlite import (
    AppendSize,
    row_append_vs_bare,
    row_append_vs_sdk,
    row_concurrent_vs_sdk,
    row_sync_vs_async,
)

PG_ROWS = {
    7: (
        "PostgreSQL appends, async door, 1 and 8 writer processes: vs langchain-postgres "
        "`PostgresChatMessageHistory` (psycopg, sync)",
        "0.3-0.96x",
    ),
    8: ("PostgreSQL, LangChain sync door, 1 writer: vs the same", "0.3-0.99x"),
}


@dataclass(frozen=True)
class Size:
    """How big each row's work is."""

    appends: AppendSize
    sessions: int
    per_session: int
    keep: int
    """Sessions left by the prune row."""
    bulk_rounds: int
    """Rounds of the prune and import rows (each round of those takes seconds)."""
    pg_rounds: int
    pg_per_writer: int


FULL = Size(AppendSize(appends=2000, per_writer=250, rounds=7), 5000, 40, 500, 3, 5, 500)
QUICK = Size(AppendSize(appends=300, per_writer=40, rounds=3), 1000, 40, 100, 2, 2, 100)


def rows_to_run(
    size: Size, directory: Path, postgres: str | None
) -> dict[int, Callable[[], list[Row]]]:
    """Each row of the issue's table, by its number there, as a call that measures it."""
    export = directory / "export.jsonl"
    messages = size.sessions * size.per_session

    def with_export(measure: Callable[[], Row]) -> Callable[[], list[Row]]:
        def run() -> list[Row]:
            if not export.exists():
                write_export(export, size.sessions, size.per_session)
            return [measure()]

        return run

    rows: dict[int, Callable[[], list[Row]]] = {
        1: lambda: [row_append_vs_bare(directory, size.appends)],
        2: lambda: [row_append_vs_sdk(directory, size.appends)],
        3: lambda: [row_concurrent_vs_sdk(directory, size.appends)],
        4: lambda: [row_sync_vs_async(directory, size.appends)],
        5: with_export(
            functools.partial(
                row_prune,
                directory,
                export,
                size.sessions,
                size.per_session,
                size.keep,
                size.bulk_rounds,
            )
        ),
        6: with_export(
            functools.partial(
                row_import, directory, export, size.sessions, messages, size.bulk_rounds
            )
        ),
    }
    if postgres is None:
        for number, (figure, today) in PG_ROWS.items():
            rows[number] = functools.partial(
                lambda f, t: [Row.not_measured(f, t, ">= 1.00x", "no --postgres URL given")],
                figure,
                today,
            )
    else:
        from bench_postgres import postgres_rows  # its peers are imported only when needed

        rounds, per_writer = size.pg_rounds, size.pg_per_writer
        rows[7] = lambda: postgres_rows(
            postgres, rounds, per_writer, async_writers=(1, 8), sync_door=False
        )
        rows[8] = lambda: postgres_rows(
            postgres, rounds, per_writer, async_writers=(), sync_door=True
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every row at a reduced size")
    parser.add_argument("--postgres", metavar="URL", help="also run the PostgreSQL rows there")
    parser.add_argument("--rows", help="only these rows of the issue's table, e.g. 1,2,5")
    parser.add_argument("--rounds", type=int, help="rounds per row (default: by size)")
    parser.add_argument("--dir", type=Path, help="make the temporary directory in here")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    if args.rounds:
        rounds = args.rounds
        size = replace(
            size,
            appends=replace(size.appends, rounds=rounds),
            bulk_rounds=rounds,
            pg_rounds=rounds,
        )
    chosen = sorted({int(n) for n in args.rows.split(",")}) if args.rows else list(range(1, 9))

    mode = "--quick" if args.quick else "(full size)"
    versions = ", ".join(
        [
            f"Python {platform.python_version()}",
            f"SQLite {sqlite3.sqlite_version}",
            f"session-history {version('session-history')}",
            f"openai-agents {version('openai-agents')}",
        ]
    )
    print(f"bench_speed {mode} on {time.strftime('%Y-%m-%d %H:%M')}: {versions}")
    print(f"at start: {machine_load()}")
    print(f"sizes: {size}")
    measured: list[Row] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-speed-", dir=args.dir) as directory:
        rows = rows_to_run(size, Path(directory), args.postgres)
        for number in chosen:
            print(f"\nrow {number} ({machine_load()}):", flush=True)
            try:
                results = rows[number]()
            except Exception as exc:  # noqa: BLE001 - one broken row must not lose the others
                traceback.print_exc()
                figure, today = PG_ROWS.get(number, (f"row {number}", "?"))
                target = ">= 1.00x" if number in PG_ROWS else "?"
                results = [Row.not_measured(figure, today, target, f"{type(exc).__name__}")]
            for row in results:
                row.number = number
            measured.extend(results)
            sys.stdout.flush()
    print(f"\nat end: {machine_load()}; {time.perf_counter() - started:.0f} s in all\n")
    print_table(measured)


if __name__ == "__main__":
    main()
