"""The cost of one synchronous-door hand-off, side by side with anyio's blocking portal.

Run by hand: ``python bench/bench_sync_door.py``. Both run a coroutine that does nothing on an
event loop in another thread and wait for its result; the difference is the door's own cost,
paid by every ``run_sync`` call: the integrations' sync methods (``SyncSessionHistory`` no longer
goes through the background loop: it runs each call in the caller's thread).
"""

from __future__ import annotations

import time

from anyio.from_thread import start_blocking_portal

from session_history import run_sync

CALLS = 20_000


async def nothing() -> None:
    return None


def main() -> None:
    with start_blocking_portal() as portal:
        for _ in range(3):
            began = time.perf_counter()
            for _ in range(CALLS):
                portal.call(nothing)
            theirs = (time.perf_counter() - began) / CALLS * 1e6
            began = time.perf_counter()
            for _ in range(CALLS):
                run_sync(nothing)
            ours = (time.perf_counter() - began) / CALLS * 1e6
            print(f"run_sync: {ours:.0f} us a call; anyio portal.call: {theirs:.0f} us a call")


if __name__ == "__main__":
    main()
