"""Where a PostgreSQL append's server time goes: the store's own appends, on its own schema,
with parts of that schema taken away one at a time.

Run by hand on the machine that runs the server (it reads the server backends' CPU counters
from /proc): ``python bench/pg_append_parts.py postgresql://postgres@127.0.0.1:5432/test``.
Each variant is a fresh schema; the appends are the same (one 300-character message per call,
through the core async API); what differs is what the server has to maintain. Not a supported
configuration: a store without its search column cannot search.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

from common import TEXT, cpu_seconds

from session_history import ChatMessage, HistoryConfig, Session, SessionHistory
from session_history.testing import drop_schema, with_schema

APPENDS = 2000

VARIANTS = {
    "as the store makes it": [],
    "without the search column and its GIN index": [
        "DROP INDEX {s}.messages_search",
        "ALTER TABLE {s}.messages DROP COLUMN search",
    ],
    "... and without the foreign key to sessions": [
        "DROP INDEX {s}.messages_search",
        "ALTER TABLE {s}.messages DROP COLUMN search",
        "ALTER TABLE {s}.messages DROP CONSTRAINT messages_session_pk_fkey",
    ],
}


async def measure(url: str, label: str, changes: list[str]) -> None:
    schema = f"parts_{uuid.uuid4().hex[:8]}"
    ours = with_schema(url, schema)
    config = HistoryConfig(enabled=True, url=ours, load_entrypoint_plugins=False)
    try:
        async with SessionHistory(config) as history:
            await history.create_session(Session(session_id="s", agent_name="a", model="m"))
            backend = history._backend  # reaching under the API: this is a measurement

            async def setup(conn: object) -> list[int]:
                for change in changes:
                    await conn.execute(change.format(s=f'"{schema}"'))  # type: ignore[attr-defined]
                return [await conn.fetchval("SELECT pg_backend_pid()")]  # type: ignore[attr-defined]

            pids = await backend._db.write(setup)  # type: ignore[attr-defined]
            message = [ChatMessage(role="user", content=TEXT)]
            before, began = cpu_seconds(pids), time.perf_counter()
            for _ in range(APPENDS):
                await history.append_messages("s", message)
            wall = time.perf_counter() - began
            server = cpu_seconds(pids) - before
        print(
            f"{label:<46} server CPU {server / APPENDS * 1e6:4.0f} us/append   "
            f"{APPENDS / wall:6,.0f} appends/s"
        )
    finally:
        drop_schema(ours)  # blocking: fine in a benchmark


async def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/test"
    for _ in range(2):
        for label, changes in VARIANTS.items():
            await measure(url, label, changes)


if __name__ == "__main__":
    asyncio.run(main())
