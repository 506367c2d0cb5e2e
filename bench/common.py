"""What the benchmark scripts share: the message text, and how a measure is taken."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path

TEXT = ("The quick brown fox jumps over the lazy dog while the agent thinks. " * 5)[:300]
"""A 300-character message, as in the issues' measurements."""


def best_ms(fn: Callable[[], object], repeat: int = 7) -> float:
    """The best of ``repeat`` timings of ``fn``, in milliseconds: the least disturbed run."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000


def append_rates(times: list[float], total: float) -> dict[str, float]:
    """Appends per second, and mean ms per append over the first and the last 10%."""
    tenth = max(1, len(times) // 10)
    return {
        "per_s": len(times) / total,
        "first_ms": statistics.mean(times[:tenth]) * 1000,
        "last_ms": statistics.mean(times[-tenth:]) * 1000,
    }


def cpu_seconds(pids: Iterable[int]) -> float:
    """CPU time (user and system) the processes ``pids`` have used so far, from /proc: how the
    PostgreSQL scripts weigh the server's share, since its backends are other processes."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")
