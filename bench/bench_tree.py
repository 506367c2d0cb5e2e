"""The tree's speed targets (issue "Core: conversations as trees"), side by side in one run.

Run by hand from the checkout:

    git worktree add /tmp/baseline <commit before the tree>   # the flat-list release
    python bench/bench_tree.py --baseline /tmp/baseline/src [--postgres URL] [--rounds 5]

Each figure is measured in a fresh process per round, the current code and the baseline
alternating (A, B, A, B...), and judged by the median of the per-round ratios, so a neighbour's
burst of load hits both sides alike. Rows:

* ``append``: 2,000 appends of one message to the head of a one-branch session (async door);
* ``tail``: ``load_messages(last=20)`` of a 10,000-message session;
* ``full``: ``load_session`` of a 4,000-message session;
* ``list``: ``list_sessions()`` of 5,000 sessions;
* ``tail tree`` / ``full tree``: the same reads of a session of the same length whose path crosses
  a fork depth of 5 and that has 20 branches, against the one-branch session (current code only:
  the baseline has no trees).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"

WORKER = r"""
import asyncio, json, sys, time, tempfile, os
from pathlib import Path
from session_history import ChatMessage, HistoryConfig, Session, SessionHistory

row, url = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
WORDS = "the quick brown fox jumps over the lazy dog " * 6

def config(directory):
    if url:
        from session_history.testing import with_schema
        return HistoryConfig(enabled=True, url=with_schema(url, "bench_" + os.urandom(6).hex()),
                             load_entrypoint_plugins=False)
    return HistoryConfig(enabled=True, db_path=Path(directory) / "h.db",
                         load_entrypoint_plugins=False)

def msgs(n, start=0):
    return [ChatMessage(role="user" if i % 2 else "assistant", content=f"{i} {WORDS}")
            for i in range(start, start + n)]

async def tree(h, sid, total):
    # A fork depth of 5 (each fork adds a fifth of the length), then 20 branches of 3 messages
    # left behind near the end, the current branch ending where it began.
    step = total // 5
    first = Session(session_id="t0", agent_name="a", model="m")
    await h.append_messages("t0", msgs(step), create=first)
    for k in range(1, 5):
        await h.fork_session(f"t{k - 1}", f"t{k}")
        await h.append_messages(f"t{k}", msgs(step, k * step))
    last = "t4"
    for b in range(20):
        await h.append_messages(last, msgs(3, 10_000 + b * 3))
        await h.branch_session(last, at=total)
    return last

async def main():
    with tempfile.TemporaryDirectory() as d:
        async with SessionHistory(config(d)) as h:
            create = Session(session_id="s", agent_name="a", model="m")
            if row == "append":
                await h.create_session(create)
                one = msgs(1)
                t = time.perf_counter()
                for _ in range(2000):
                    await h.append_messages("s", one)
                print(json.dumps(2000 / (time.perf_counter() - t)))
                return
            if row == "list":
                for i in range(0, 5000, 500):
                    for j in range(i, i + 500):
                        one = Session(session_id=f"s{j}", agent_name="a", model="m")
                        await h.create_session(one)
                await h.list_sessions()
                t = time.perf_counter()
                for _ in range(10):
                    await h.list_sessions()
                print(json.dumps((time.perf_counter() - t) / 10 * 1000))
                return
            total = 10_000 if row.startswith("tail") else 4_000
            if row.endswith("tree"):
                sid = await tree(h, "s", total)
            else:
                sid = "s"
                for i in range(0, total, 500):
                    await h.append_messages("s", msgs(500, i), create=create)
            if row.startswith("tail"):
                await h.load_messages(sid, last=20)
                t = time.perf_counter()
                for _ in range(1000):
                    await h.load_messages(sid, last=20)
                print(json.dumps((time.perf_counter() - t) / 1000 * 1e6))
            else:
                await h.load_session(sid)
                t = time.perf_counter()
                for _ in range(20):
                    s = await h.load_session(sid)
                assert s is not None and len(s.messages) == total, len(s.messages)
                print(json.dumps((time.perf_counter() - t) / 20 * 1000))

asyncio.run(main())
"""

UNITS = {"append": "appends/s", "tail": "µs", "full": "ms", "list": "ms"}


def measure(src: Path, row: str, url: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(WORKER)
    try:
        out = subprocess.run(
            [sys.executable, script.name, row, url], env=env, capture_output=True, text=True
        )
    finally:
        os.unlink(script.name)
    if out.returncode != 0:
        raise SystemExit(f"{row} failed under {src}:\n{out.stderr}")
    return float(json.loads(out.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="src/ of the flat release")
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL: measure there too")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} {'PostgreSQL' if args.postgres else 'SQLite'}")
    pairs = [
        ("append", SRC, args.baseline, "append"),
        ("tail", SRC, args.baseline, "tail"),
        ("full", SRC, args.baseline, "full"),
        ("list", SRC, args.baseline, "list"),
        ("tail tree vs one branch", SRC, SRC, "tail"),
        ("full tree vs one branch", SRC, SRC, "full"),
    ]
    for label, mine_src, theirs_src, base_row in pairs:
        mine_row = base_row + " tree" if "tree" in label else base_row
        mine, theirs = [], []
        for _ in range(args.rounds):
            mine.append(measure(mine_src, mine_row.replace(" ", ""), args.postgres))
            theirs.append(measure(theirs_src, base_row, args.postgres))
        ratio = statistics.median(m / t for m, t in zip(mine, theirs, strict=True))
        unit = UNITS[base_row]
        # A ratio above 1 is slower for times, faster for a rate.
        print(
            f"{label:26} now {statistics.median(mine):9.1f} {unit:9} "
            f"{'baseline' if theirs_src != SRC else 'one branch'} "
            f"{statistics.median(theirs):9.1f} {unit:9} ratio {ratio:.2f}x"
        )


if __name__ == "__main__":
    main()
