"""What the benchmark scripts share: the message text, generated sessions and exports, the bare
yardstick, how a measure is taken, and how side-by-side rounds are run and reported."""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

import aiosqlite

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


# -- the machine -----------------------------------------------------------------------------


def machine_load() -> str:
    """The load averages and the CPU count, to print with every set of figures: on a shared
    machine a figure means little without them."""
    one, five, fifteen = os.getloadavg()
    return (
        f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min), cpu_count {os.cpu_count()}"
    )


# -- the bare yardstick: one row per append, nothing else --------------------------------------


async def open_bare(path: Path) -> aiosqlite.Connection:
    """An aiosqlite table as the issues' yardstick has it: WAL, ``synchronous=NORMAL``, one
    ``(id, session, body)`` row per message, no index beyond the rowid."""
    db = await aiosqlite.connect(path)
    await db.execute("PRAGMA journal_mode = WAL")
    await db.execute("PRAGMA synchronous = NORMAL")
    await db.execute(
        "CREATE TABLE IF NOT EXISTS m (id INTEGER PRIMARY KEY, session TEXT, body TEXT)"
    )
    await db.commit()
    return db


async def bare_appends(db: aiosqlite.Connection, body: str, n: int) -> float:
    """Appends per second of ``n`` appends of ``body``, each one ``INSERT`` + ``COMMIT``."""
    start = time.perf_counter()
    for _ in range(n):
        await db.execute("INSERT INTO m (session, body) VALUES ('s', ?)", (body,))
        await db.commit()
    return n / (time.perf_counter() - start)


# -- side by side ------------------------------------------------------------------------------


def interleave(
    contenders: Mapping[str, Callable[[], float]],
    rounds: int,
    *,
    unit: str,
    say: Callable[[str], None] = print,
) -> dict[str, list[float]]:
    """Run each contender once per round, in turn (A, B, A, B...), so that a noisy neighbour
    hits all of them alike; each call returns its figure for that round. Prints each round."""
    figures: dict[str, list[float]] = {name: [] for name in contenders}
    for number in range(1, rounds + 1):
        for name, fn in contenders.items():
            figures[name].append(fn())
        shown = ", ".join(f"{name} {values[-1]:,.1f}" for name, values in figures.items())
        say(f"    round {number}: {shown} {unit}")
    medians = ", ".join(f"{name} {statistics.median(v):,.1f}" for name, v in figures.items())
    say(f"    medians: {medians} {unit}")
    return figures


def ratios(mine: list[float], theirs: list[float]) -> list[float]:
    """Per-round ratios ``mine[i] / theirs[i]``: each compares two figures taken side by side."""
    return [a / b for a, b in zip(mine, theirs, strict=True)]


def spread(values: list[float], digits: int = 2) -> str:
    """``median (min-max)`` of per-round values, for a report line."""
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


@dataclass
class Row:
    """One row of issue 12's table, as measured: the figure, the issue's "today" and target,
    and whether the median meets the target (``None`` when it could not be measured)."""

    figure: str
    today: str
    target: str
    measured: str
    met: bool | None
    rounds: str = ""
    """Each round's value, for the reader who wants the spread."""
    number: int = 0
    """The row's number in the issue's table (set by whoever runs it)."""

    @classmethod
    def at_least(
        cls, figure: str, today: str, bound: float, values: list[float], unit: str = "x"
    ) -> Row:
        """A row whose median must reach ``bound`` (a ratio, or a rate with ``unit``)."""
        return cls._judged(figure, today, f">= {_fmt(bound, unit)}", values, unit, bound, 1)

    @classmethod
    def at_most(cls, figure: str, today: str, bound: float, values: list[float]) -> Row:
        """A row whose median must stay at or under ``bound`` (a slowdown factor)."""
        return cls._judged(figure, today, f"<= {_fmt(bound, 'x')}", values, "x", bound, -1)

    @classmethod
    def _judged(
        cls,
        figure: str,
        today: str,
        target: str,
        values: list[float],
        unit: str,
        bound: float,
        sign: int,
    ) -> Row:
        median = statistics.median(values)
        return cls(
            figure=figure,
            today=today,
            target=target,
            measured=f"{_fmt(median, unit)} ({_fmt(min(values), unit)}-{_fmt(max(values), unit)})",
            met=sign * (median - bound) >= 0,
            rounds=", ".join(_fmt(v, unit) for v in values),
        )

    @classmethod
    def not_measured(cls, figure: str, today: str, target: str, why: str) -> Row:
        """A row left out of this run, and why."""
        return cls(
            figure=figure, today=today, target=target, measured=f"not measured: {why}", met=None
        )


def _fmt(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:,.0f} {unit}"


def print_table(rows: list[Row], say: Callable[[str], None] = print) -> None:
    """The rows as a Markdown table (ready for the README), then each row's rounds."""
    say("| # | figure | measured: median (min-max) | today (issue 12) | target | met |")
    say("| ---: | --- | ---: | ---: | ---: | :---: |")
    for row in rows:
        met = "-" if row.met is None else ("yes" if row.met else "**no**")
        cells = [str(row.number or ""), row.figure, row.measured, row.today, row.target, met]
        say("| " + " | ".join(cells) + " |")
    say("")
    for row in rows:
        if row.rounds:
            say(f"row {row.number}, per round: {row.rounds}  ({row.figure[:60]}...)")


# -- generated sessions --------------------------------------------------------------------------

_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "su",
    "ta",
    "ri",
    "po",
    "de",
    "vu",
    "ba",
    "ze",
    "go",
    "hi",
    "ju",
]


# A vocabulary of 3,000 made-up words with Zipf frequencies (s = 1.1), like real text: a few
# words everywhere, most words rare. Word k is spelled from the syllables of k.
def _spell(k: int) -> str:
    syllables = []
    while True:
        k, r = divmod(k, len(_SYLLABLES))
        syllables.append(_SYLLABLES[r])
        if k == 0:
            return "".join(syllables)


VOCABULARY = [_spell(k) for k in range(3000)]
WEIGHTS = [1 / (rank + 1) ** 1.1 for rank in range(len(VOCABULARY))]
_CUMULATIVE = list(accumulate(WEIGHTS))  # what random.choices would rebuild on every call


def text(rng: random.Random, words: int = 45) -> str:
    """``words`` words drawn from the Zipf vocabulary."""
    return " ".join(rng.choices(VOCABULARY, cum_weights=_CUMULATIVE, k=words))


ROLES = ["user", "assistant", "tool", "assistant"]
"""The roles of a session's messages, in turn; every fourth message from the second on is an
assistant message with a tool call."""


def message_dicts(rng: random.Random, count: int, words: int = 45) -> list[dict[str, object]]:
    """``count`` messages as the store exports them (JSON objects, defaults left out)."""
    messages: list[dict[str, object]] = []
    for i in range(count):
        if i % 4 == 1:  # drawn in this order so bench_cli.py's data stays what it was
            call: dict[str, object] = {"id": f"c{i}", "name": rng.choice(["search", "deploy"])}
            call["arguments"] = {"q": text(rng, 3)}
            content = text(rng, words)
            messages.append({"role": "assistant", "content": content, "tool_calls": [call]})
        else:
            messages.append({"role": ROLES[i % 4], "content": text(rng, words)})
    return messages


_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def export_lines(
    sessions: int, per_session: int, *, words: int = 45, seed: int = 42
) -> Iterator[str]:
    """Lines of an export (``ExportedSession`` JSON), made one at a time: session ``s`` was
    updated ``s`` seconds after the epoch, so the newest sessions are the last ones."""
    rng = random.Random(seed)
    for s in range(sessions):
        started = _EPOCH + timedelta(seconds=s)
        stamp = started.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        yield json.dumps(
            {
                "session_id": f"s{s:07d}",
                "agent_name": f"agent-{s % 5}",
                "model": "model-a" if s % 2 else "model-b",
                "started_at": stamp,
                "ended_at": None,
                "updated_at": stamp,
                "usage": {"input_tokens": 10, "output_tokens": 20, "total_tokens": 30},
                "metadata": {},
                "messages": message_dicts(rng, per_session, words),
            },
            separators=(",", ":"),
        )


def write_export(
    path: Path, sessions: int, per_session: int, *, words: int = 45, max_bytes: int | None = None
) -> tuple[int, int]:
    """Write an export to ``path`` line by line (never whole in memory); stop early once it
    holds ``max_bytes``. Returns ``(sessions, messages)`` written."""
    written = size = 0
    with path.open("w", encoding="utf-8") as out:
        for line in export_lines(sessions, per_session, words=words):
            out.write(line + "\n")
            written += 1
            size += len(line.encode()) + 1
            if max_bytes is not None and size >= max_bytes:
                break
    return written, written * per_session
