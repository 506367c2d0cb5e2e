"""Core store benchmark: appends, load, list, prune and concurrent appends.

Run by hand (not in CI): ``python bench/bench_core.py``. Each figure is measured on a fresh
temporary database; ``--reference`` also runs a faithful port of the reference design (one JSON
array per session, re-written on every append) side by side, so ratios come from one run on one
machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import time
from pathlib import Path

import aiosqlite
from common import TEXT, append_rates, bare_appends, open_bare

from session_history import ChatMessage, HistoryConfig, Session, SessionHistory, ToolCall, Usage


def message(i: int) -> ChatMessage:
    if i % 4 == 1:
        return ChatMessage(
            role="assistant",
            content=TEXT,
            tool_calls=[ToolCall(id=f"call-{i}", name="search", arguments={"q": "fox", "n": i})],
        )
    return ChatMessage(role=["user", "assistant", "tool", "assistant"][i % 4], content=TEXT)


def config(directory: str, name: str) -> HistoryConfig:
    return HistoryConfig(
        enabled=True, db_path=Path(directory) / name, load_entrypoint_plugins=False
    )


async def bench_appends(directory: str, n: int) -> dict[str, float]:
    async with SessionHistory(config(directory, f"append-{n}.db")) as history:
        await history.create_session(Session(session_id="s", agent_name="bench", model="m"))
        messages = [message(i) for i in range(n)]
        times = []
        start = time.perf_counter()
        for m in messages:
            t0 = time.perf_counter()
            await history.append_messages("s", [m])
            times.append(time.perf_counter() - t0)
        return append_rates(times, time.perf_counter() - start)


async def fill(history: SessionHistory, sessions: int, per_session: int) -> None:
    messages = [message(i) for i in range(per_session)]
    for s in range(sessions):
        await history.create_session(
            Session(
                session_id=f"session-{s:05d}",
                agent_name=f"agent-{s % 7}",
                model="model-a" if s % 2 else "model-b",
                messages=messages,
                usage=Usage(input_tokens=10, output_tokens=20, total_tokens=30),
            )
        )


def best_of(times: list[float]) -> float:
    return min(times) * 1000


async def bench_load(directory: str) -> float:
    async with SessionHistory(config(directory, "load.db")) as history:
        await history.create_session(
            Session(
                session_id="long",
                agent_name="bench",
                model="m",
                messages=[message(i) for i in range(4000)],
            )
        )
        times = []
        for _ in range(10):
            t0 = time.perf_counter()
            session = await history.load_session("long")
            times.append(time.perf_counter() - t0)
        assert session is not None and len(session.messages) == 4000
        return best_of(times)


async def bench_list_and_prune(directory: str) -> tuple[float, float, int]:
    async with SessionHistory(config(directory, "list.db")) as history:
        await fill(history, 5000, 40)
        times = []
        for _ in range(10):
            t0 = time.perf_counter()
            summaries = await history.list_sessions()
            times.append(time.perf_counter() - t0)
        assert len(summaries) == 5000
        t0 = time.perf_counter()
        pruned = await history.prune(max_sessions=500)
        prune_ms = (time.perf_counter() - t0) * 1000
        return best_of(times), prune_ms, len(pruned)


async def bench_concurrent(directory: str) -> int:
    async with SessionHistory(config(directory, "concurrent.db")) as history:
        await history.create_session(Session(session_id="shared", agent_name="bench", model="m"))

        async def writer(w: int) -> None:
            for i in range(100):
                await history.append_messages(
                    "shared", [ChatMessage(role="user", content=f"{w}:{i}")]
                )

        await asyncio.gather(*(writer(w) for w in range(8)))
        session = await history.load_session("shared")
        assert session is not None
        return len(session.messages)


async def bare_aiosqlite_appends(directory: str, n: int) -> float:
    """The issue's yardstick: one row per message, WAL, one INSERT + COMMIT per append."""
    db = await open_bare(Path(directory) / "bare.db")
    try:
        return await bare_appends(db, message(0).model_dump_json(), n)
    finally:
        await db.close()


# -- a faithful port of the reference design, for side-by-side ratios --------------------------

REFERENCE_DDL = """
CREATE TABLE IF NOT EXISTS session_history (
id TEXT PRIMARY KEY, agent_name TEXT NOT NULL, model TEXT NOT NULL, messages TEXT NOT NULL,
metadata TEXT, started_at TEXT NOT NULL, updated_at TEXT NOT NULL, ended_at TEXT,
turn_count INTEGER DEFAULT 0, tool_call_count INTEGER DEFAULT 0, usage TEXT)
"""


async def reference_appends(directory: str, n: int) -> dict[str, float]:
    async with aiosqlite.connect(Path(directory) / f"reference-{n}.db") as db:
        await db.execute(REFERENCE_DDL)
        await db.execute(
            "INSERT INTO session_history (id, agent_name, model, messages, started_at, updated_at)"
            " VALUES ('s', 'bench', 'm', '[]', 'now', 'now')"
        )
        await db.commit()
        times = []
        start = time.perf_counter()
        for i in range(n):
            t0 = time.perf_counter()
            rows = await db.execute_fetchall("SELECT messages FROM session_history WHERE id = 's'")
            messages = json.loads(next(iter(rows))[0])
            messages.append(message(i).model_dump(mode="json"))
            await db.execute(
                "UPDATE session_history SET messages = ?, updated_at = ? WHERE id = 's'",
                (json.dumps(messages), "now"),
            )
            await db.commit()
            times.append(time.perf_counter() - t0)
        return append_rates(times, time.perf_counter() - start)


async def reference_list(directory: str) -> float:
    path = Path(directory) / "reference-list.db"
    messages = json.dumps([message(i).model_dump(mode="json") for i in range(40)])
    with sqlite3.connect(path) as db:
        db.execute(REFERENCE_DDL)
        db.executemany(
            "INSERT INTO session_history (id, agent_name, model, messages, started_at, updated_at)"
            " VALUES (?, 'bench', 'm', ?, 'now', ?)",
            [(f"s{i}", messages, f"{i:08d}") for i in range(5000)],
        )
    async with aiosqlite.connect(path) as db:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            rows = await db.execute_fetchall(
                "SELECT id, agent_name, model, messages, started_at, updated_at, ended_at, "
                "turn_count, tool_call_count FROM session_history ORDER BY updated_at DESC"
            )
            [len(json.loads(row[3])) for row in rows]  # the reference parses to count
            times.append(time.perf_counter() - t0)
        return best_of(times)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", action="store_true", help="also run the reference port")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        print(
            f"{'measure':<44} {'session-history':>16}"
            + (f" {'reference':>12}" if args.reference else "")
        )
        for n in (200, 1000, 4000):
            ours = await bench_appends(directory, n)
            ref = await reference_appends(directory, n) if args.reference else None
            for key, label in (
                ("per_s", f"append 1 msg/call, N={n}: appends/s"),
                ("first_ms", f"append N={n}: ms/append, first 10%"),
                ("last_ms", f"append N={n}: ms/append, last 10%"),
            ):
                line = f"{label:<44} {ours[key]:>16.3f}"
                print(line + (f" {ref[key]:>12.3f}" if ref else ""))
            label = f"append N={n}: last/first 10% ratio"
            ratio = ours["last_ms"] / ours["first_ms"]
            print(
                f"{label:<44} {ratio:>16.2f}"
                + (f" {ref['last_ms'] / ref['first_ms']:>12.2f}" if ref else "")
            )
        bare = await bare_aiosqlite_appends(directory, 4000)
        print(f"{'bare aiosqlite INSERT+COMMIT: appends/s':<44} {bare:>16.0f}")
        print(f"{'load 4,000-message session: ms':<44} {await bench_load(directory):>16.2f}")
        list_ms, prune_ms, pruned = await bench_list_and_prune(directory)
        ref_list = f" {await reference_list(directory):>12.2f}" if args.reference else ""
        print(f"{'list 5,000 sessions of 40 msgs: ms':<44} {list_ms:>16.2f}{ref_list}")
        print(f"{'prune 5,000 to 500: ms':<44} {prune_ms:>16.2f}")
        print(f"{'  sessions pruned':<44} {pruned:>16}")
        kept = await bench_concurrent(directory)
        print(f"{'8 tasks x 100 appends: messages kept':<44} {kept:>16}/800")


if __name__ == "__main__":
    asyncio.run(main())
