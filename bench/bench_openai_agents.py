"""OpenAI Agents SDK session benchmark: ``HistorySession`` next to the SDK's own ``SQLiteSession``.

Run by hand, after the README's first command (which installs this package and, with it,
openai-agents): ``python bench/bench_openai_agents.py``. Both stores are SQLite files in one
temporary directory, each holding a 10,000-item session (user messages, function calls and outputs,
assistant messages with 300-character texts). Then, in interleaved rounds (who goes first
alternates, so a noisy neighbour hits both), each store takes ``add_items`` of one item and
``get_items(limit=20)`` calls; a round's ratio is their time over ours, and the figure is the
median of the rounds' ratios.

``--breakdown`` also times the parts of each call side by side (reaching under the APIs: it is a
measurement): the thread hand-off each store makes per call, the SQL, and the decoding.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from agents import SQLiteSession, TResponseInputItem
from common import TEXT

from openai_agents_session_history import HistorySession, to_chat_message, to_items
from session_history import HistoryConfig, SessionHistory
from session_history._codec import MESSAGES, json_array, message_body

OUR_TAIL = (
    "SELECT body FROM messages WHERE session_pk = (SELECT pk FROM sessions WHERE session_id = ?) "
    "ORDER BY seq DESC LIMIT ?"
)
THEIR_TAIL = "SELECT message_data FROM agent_messages WHERE session_id = ? ORDER BY id DESC LIMIT ?"


def item(i: int) -> TResponseInputItem:
    """The i-th item of a tool-using conversation: user, call, output, assistant, ..."""
    kind = i % 4
    if kind == 0:
        return cast(TResponseInputItem, {"role": "user", "content": TEXT})
    if kind == 1:
        return cast(
            TResponseInputItem,
            {
                "type": "function_call",
                "call_id": f"call_{i}",
                "name": "lookup",
                "arguments": '{"query": "order status", "limit": 5}',
            },
        )
    if kind == 2:
        return cast(
            TResponseInputItem,
            {"type": "function_call_output", "call_id": f"call_{i - 1}", "output": TEXT},
        )
    return cast(
        TResponseInputItem,
        {
            "id": f"msg_{i}",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": TEXT, "annotations": []}],
        },
    )


async def timed(calls: int, fn: Callable[[int], Awaitable[object]]) -> float:
    """Seconds for ``calls`` sequential calls of ``fn(i)``."""
    t0 = time.perf_counter()
    for i in range(calls):
        await fn(i)
    return time.perf_counter() - t0


def adder(session: Any, base: int) -> Callable[[int], Awaitable[object]]:
    """One ``add_items`` of one item per call, numbered from ``base``."""
    return lambda i: session.add_items([item(base + i)])


def tailer(session: Any) -> Callable[[int], Awaitable[object]]:
    """One ``get_items(limit=20)`` per call."""
    return lambda i: session.get_items(20)


async def fill(session: Any, n: int) -> None:
    for start in range(0, n, 500):
        await session.add_items([item(i) for i in range(start, min(start + 500, n))])


async def interleave(
    parts: dict[str, Callable[[int], Awaitable[object]]], rounds: int, calls: int
) -> dict[str, float]:
    """Median microseconds per call of each part, the parts run in turn (reversed every round)."""
    times: dict[str, list[float]] = {name: [] for name in parts}
    for r in range(rounds):
        order = list(parts.items()) if r % 2 == 0 else list(reversed(parts.items()))
        for name, fn in order:
            times[name].append(await timed(calls, fn) / calls * 1e6)
    return {name: statistics.median(values) for name, values in times.items()}


async def breakdown(
    store: SessionHistory, ours: HistorySession, theirs: SQLiteSession, d: Path, rounds: int
) -> None:
    """Where a tail read and an append spend their time, in each store."""
    backend: Any = store._backend  # reaching under the API: this is a measurement
    our_sql = sqlite3.connect(d / "ours.db", check_same_thread=False)
    their_sql = sqlite3.connect(d / "theirs.db", check_same_thread=False)
    bodies = [b for (b,) in our_sql.execute(OUR_TAIL, ("bench", 20)).fetchall()]
    rows = [r for (r,) in their_sql.execute(THEIR_TAIL, ("bench", 20)).fetchall()]
    models = MESSAGES.validate_json(json_array(reversed(bodies)))
    one = item(3)
    built = to_chat_message(one)

    await backend._conn._execute(
        lambda conn: conn.execute("CREATE TABLE IF NOT EXISTS bare (body TEXT)"),
        backend._conn._conn,
    )

    def bare_insert(conn: sqlite3.Connection, body: str) -> None:
        # The floor under any append: a row and a commit (the store's synchronous=NORMAL).
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bare (body) VALUES (?)", (body,))
        conn.execute("COMMIT")

    async def sync(fn: Callable[[], object]) -> object:
        return fn()

    parts: dict[str, Callable[[int], Awaitable[object]]] = {
        "ours: get_items(limit=20)": lambda i: ours.get_items(20),
        "ours: aiosqlite hand-off of a no-op": lambda i: backend._conn._execute(lambda: None),
        "ours: the 20-row SQL, inline": lambda i: sync(
            lambda: our_sql.execute(OUR_TAIL, ("bench", 20)).fetchall()
        ),
        "ours: 20 ChatMessage from JSON": lambda i: sync(
            lambda: MESSAGES.validate_json(json_array(reversed(bodies)))
        ),
        "ours: 20 json.loads of the bodies": lambda i: sync(
            lambda: [json.loads(b) for b in bodies]
        ),
        "ours: to_items of 20 messages": lambda i: sync(
            lambda: [x for m in models for x in to_items(m)]
        ),
        "theirs: get_items(limit=20)": lambda i: theirs.get_items(20),
        "theirs: asyncio.to_thread of a no-op": lambda i: asyncio.to_thread(lambda: None),
        "theirs: the 20-row SQL, inline": lambda i: sync(
            lambda: their_sql.execute(THEIR_TAIL, ("bench", 20)).fetchall()
        ),
        "theirs: 20 json.loads": lambda i: sync(lambda: [json.loads(r) for r in rows]),
    }
    appends: dict[str, Callable[[int], Awaitable[object]]] = {
        "ours: add_items(1 item)": lambda i: ours.add_items([item(i)]),
        "ours: to_chat_message + body JSON": lambda i: sync(
            lambda: message_body(to_chat_message(one))
        ),
        "ours: append_messages(1 built message)": lambda i: store.append_messages("bench", [built]),
        "ours: bare INSERT + COMMIT of its body, one hand-off": lambda i: (
            backend._db._conn._execute(bare_insert, backend._db._conn._conn, message_body(built))
        ),
        "theirs: add_items(1 item)": lambda i: theirs.add_items([item(i)]),
        "theirs: INSERT + COMMIT inline (their synchronous=FULL)": lambda i: sync(
            lambda: their_sql.execute(
                "INSERT INTO agent_messages (session_id, message_data) VALUES (?, ?)",
                ("other", json.dumps(one)),
            ).connection.commit()
        ),
    }
    for title, group, calls in (("tail read", parts, 200), ("append", appends, 100)):
        results = await interleave(group, rounds, calls)
        print(f"\n{title}, median us per call over {rounds} interleaved rounds of {calls}:")
        for name, us in results.items():
            print(f"  {name:<58} {us:8.1f}")
    our_sql.close()
    their_sql.close()


def report(
    results: dict[str, list[tuple[float, float]]], size: int, rounds: int, calls: int
) -> None:
    print(
        f"{size:,}-item session, {rounds} interleaved rounds of {calls} calls each; "
        "per call: median over rounds"
    )
    print(f"{'measure':<32} {'HistorySession':>15} {'SQLiteSession':>14} {'ratio (median)':>15}")
    for name, label in (("add", "add_items(1 item)"), ("tail", "get_items(limit=20)")):
        pairs = results[name]
        mine = statistics.median(p[0] for p in pairs) / calls * 1e6
        their = statistics.median(p[1] for p in pairs) / calls * 1e6
        ratios = sorted(p[1] / p[0] for p in pairs)
        spread = f"{ratios[0]:.2f}-{ratios[-1]:.2f}"
        print(
            f"{label + ': us':<32} {mine:>15.0f} {their:>14.0f} "
            f"{statistics.median(ratios):>8.2f}x  (rounds {spread})"
        )


async def main(size: int, rounds: int, calls: int, parts: bool) -> None:
    with tempfile.TemporaryDirectory() as directory:
        d = Path(directory)
        config = HistoryConfig(enabled=True, db_path=d / "ours.db", load_entrypoint_plugins=False)
        async with SessionHistory(config) as store:
            ours = HistorySession("bench", store)
            theirs = SQLiteSession("bench", d / "theirs.db")
            try:
                await fill(ours, size)
                await fill(theirs, size)
                tail_ours, tail_theirs = await ours.get_items(20), await theirs.get_items(20)
                assert tail_ours == tail_theirs and len(tail_ours) == 20

                results: dict[str, list[tuple[float, float]]] = {"add": [], "tail": []}
                for r in range(rounds):
                    pairs = [(ours, 0), (theirs, 1)] if r % 2 == 0 else [(theirs, 1), (ours, 0)]
                    add = [0.0, 0.0]
                    tail = [0.0, 0.0]
                    for session, slot in pairs:
                        base = size + r * calls
                        add[slot] = await timed(calls, adder(session, base))
                        tail[slot] = await timed(calls, tailer(session))
                    results["add"].append((add[0], add[1]))
                    results["tail"].append((tail[0], tail[1]))
                assert await ours.get_items(20) == await theirs.get_items(20)
                report(results, size, rounds, calls)
                if parts:
                    await breakdown(store, ours, theirs, d, rounds)
            finally:
                theirs.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10_000, help="items in the session")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--calls", type=int, default=50, help="calls per store per round")
    parser.add_argument("--breakdown", action="store_true", help="time the parts of each call")
    args = parser.parse_args()
    asyncio.run(main(args.size, args.rounds, args.calls, args.breakdown))
