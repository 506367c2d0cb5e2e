"""PostgreSQL benchmark, side by side with langchain-postgres' PostgresChatMessageHistory.

Run by hand: ``pip install -e ".[bench,postgres]"`` then
``python bench/bench_postgres.py postgresql://postgres@127.0.0.1:5432/test``. Each writer is a
separate process appending one message per call to a session of its own; both stores take the
same messages through LangChain's sync interface (``add_message``), then through its async one
(``aadd_messages``, from each process's own event loop), and ours also through its core API.
Two more columns frame the append figures: ours with PostgreSQL's asynchronous commit
(``?synchronous_commit=off`` in the URL: an append is acknowledged before its WAL reaches the
disk), and a bare asyncpg ``INSERT`` per message with nothing else, the floor for any store that
commits each append. Schemas and tables are made fresh and dropped at the end.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
import uuid
import warnings
from collections.abc import Callable

import psycopg
from common import TEXT, best_ms
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_postgres import PostgresChatMessageHistory

from langchain_session_history import SessionChatMessageHistory
from session_history import ChatMessage, HistoryConfig, Session, SyncSessionHistory

PER_WRITER = 500


def message(i: int) -> BaseMessage:
    return HumanMessage(TEXT) if i % 2 == 0 else AIMessage(TEXT)


def ours_url(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def timed_appends(chat: object, start: object, times: object) -> None:
    """Wait for every writer, append, and report when this writer began and ended (wall clock,
    comparable across processes; start-up and exit are left out of the measure)."""
    start.wait()  # type: ignore[attr-defined]
    began = time.time()
    for i in range(PER_WRITER):
        chat.add_message(message(i))  # type: ignore[attr-defined]
    times.put((began, time.time()))  # type: ignore[attr-defined]


def ours_writer(url: str, writer: int, start: object, times: object) -> None:
    config = HistoryConfig(enabled=True, url=url, load_entrypoint_plugins=False)
    with SyncSessionHistory(config) as store:
        chat = SessionChatMessageHistory(f"w{writer}-{uuid.uuid4().hex[:6]}", store)
        chat.add_message(message(0))  # creates the session
        timed_appends(chat, start, times)


async def timed_async_appends(chat: object, start: object, times: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    began = time.time()
    for i in range(PER_WRITER):
        await chat.aadd_messages([message(i)])  # type: ignore[attr-defined]
    times.put((began, time.time()))  # type: ignore[attr-defined]


def ours_async_writer(url: str, writer: int, start: object, times: object) -> None:
    """Through LangChain's async door, from the application's own event loop."""
    import asyncio

    from session_history import SessionHistory

    async def run() -> None:
        config = HistoryConfig(enabled=True, url=url, load_entrypoint_plugins=False)
        async with SessionHistory(config) as store:
            chat = SessionChatMessageHistory(f"a{writer}-{uuid.uuid4().hex[:6]}", store)
            await chat.aadd_messages([message(0)])
            await timed_async_appends(chat, start, times)

    asyncio.run(run())


def theirs_async_writer(url: str, table: str, writer: int, start: object, times: object) -> None:
    import asyncio

    warnings.simplefilter("ignore")

    async def run() -> None:
        conn = await psycopg.AsyncConnection.connect(url)
        chat = PostgresChatMessageHistory(table, str(uuid.uuid4()), async_connection=conn)
        await chat.aadd_messages([message(0)])
        await timed_async_appends(chat, start, times)
        await conn.close()

    asyncio.run(run())


def bare_writer(url: str, table: str, writer: int, start: object, times: object) -> None:
    """The floor for any store that commits each append: one bare INSERT per message through
    asyncpg, into langchain-postgres' own table, with no summary, sequence or search index."""
    import asyncio

    import asyncpg
    from langchain_core.messages import message_to_dict

    async def run() -> None:
        conn = await asyncpg.connect(url)
        sql = f'INSERT INTO "{table}" (session_id, message) VALUES ($1, $2::jsonb)'
        session_id = uuid.uuid4()
        start.wait()  # type: ignore[attr-defined]
        began = time.time()
        for i in range(PER_WRITER):
            await conn.execute(sql, session_id, json.dumps(message_to_dict(message(i))))
        times.put((began, time.time()))  # type: ignore[attr-defined]
        await conn.close()

    asyncio.run(run())


def theirs_writer(url: str, table: str, writer: int, start: object, times: object) -> None:
    warnings.simplefilter("ignore")
    with psycopg.connect(url) as conn:
        chat = PostgresChatMessageHistory(table, str(uuid.uuid4()), sync_connection=conn)
        chat.add_message(message(0))
        timed_appends(chat, start, times)


def appends_per_s(target: Callable[..., None], args: tuple[object, ...], writers: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(writers)
    times = ctx.Queue()
    processes = [ctx.Process(target=target, args=(*args, w, start, times)) for w in range(writers)]
    for p in processes:
        p.start()
    spans = [times.get(timeout=600) for _ in processes]
    for p in processes:
        p.join()
    assert all(p.exitcode == 0 for p in processes)
    elapsed = max(end for _, end in spans) - min(began for began, _ in spans)
    return writers * PER_WRITER / elapsed


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/test"
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    table = f"lc_bench_{uuid.uuid4().hex[:8]}"
    ours = ours_url(url, schema)
    rows = []
    async_rows = []
    extra = []
    with psycopg.connect(url, autocommit=True) as admin:
        PostgresChatMessageHistory.create_tables(admin, table)
        try:
            with SyncSessionHistory(HistoryConfig(enabled=True, url=ours)):
                pass  # migrate once before the writers race
            relaxed = f"{ours}&synchronous_commit=off"
            for writers in (1, 4, 16):
                mine = appends_per_s(ours_writer, (ours,), writers)
                other = appends_per_s(theirs_writer, (url, table), writers)
                floor = appends_per_s(bare_writer, (url, table), writers)
                mine_relaxed = appends_per_s(ours_writer, (relaxed,), writers)
                mine_async = appends_per_s(ours_async_writer, (ours,), writers)
                other_async = appends_per_s(theirs_async_writer, (url, table), writers)
                label = f"appends/s, {writers} writer process(es)"
                rows.append((label, f"{mine:,.0f}", f"{other:,.0f}"))
                async_rows.append((label, f"{mine_async:,.0f}", f"{other_async:,.0f}"))
                extra.append((label, f"{mine_relaxed:,.0f}", f"{floor:,.0f}"))

            config = HistoryConfig(enabled=True, url=ours, load_entrypoint_plugins=False)
            with SyncSessionHistory(config) as store:
                forty = [ChatMessage(role="user", content=TEXT)] * 40
                for s in range(5000 - store.session_count()):
                    store.create_session(
                        Session(session_id=f"s{s}", agent_name="a", model="m", messages=forty)
                    )
                list_ms = best_ms(lambda: store.list_sessions())
                long = [message(i) for i in range(4000)]
                mine_chat = SessionChatMessageHistory("long", store)
                mine_chat.add_messages(long)
                their_chat = PostgresChatMessageHistory(
                    table, str(uuid.uuid4()), sync_connection=admin
                )
                their_chat.add_messages(long)
                load_core = best_ms(lambda: store.load_session("long"))
                mine_ms = best_ms(lambda: mine_chat.messages)
                their_ms = best_ms(lambda: their_chat.messages)
            rows.append(("list 5,000 sessions: ms", f"{list_ms:.1f}", "(cannot list)"))
            rows.append(("load 4,000 messages (core models): ms", f"{load_core:.1f}", "-"))
            rows.append(
                (
                    "load 4,000 messages (LangChain messages): ms",
                    f"{mine_ms:.1f}",
                    f"{their_ms:.1f}",
                )
            )
        finally:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            admin.execute(f'DROP TABLE IF EXISTS "{table}"')
    print(f"{'measure':<46} {'session-history':>16} {'langchain-postgres':>19}")
    for label, mine, other in rows:
        print(f"{label:<46} {mine:>16} {other:>19}")
    print()
    print(f"{'async door (aadd_messages)':<46} {'session-history':>16} {'langchain-postgres':>19}")
    for label, mine, other in async_rows:
        print(f"{label:<46} {mine:>16} {other:>19}")
    print()
    print(f"{'measure':<46} {'ours, async commit':>19} {'bare asyncpg INSERT':>20}")
    for label, mine, other in extra:
        print(f"{label:<46} {mine:>19} {other:>20}")


if __name__ == "__main__":
    main()
