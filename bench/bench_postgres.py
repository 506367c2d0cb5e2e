"""PostgreSQL benchmark, side by side with langchain-postgres' PostgresChatMessageHistory.

Run by hand: ``pip install -e ".[bench,postgres]"`` then
``python bench/bench_postgres.py postgresql://postgres@127.0.0.1:5432/test``. Each writer is a
separate process appending one message per call to a session of its own; both stores take the
same messages through LangChain's sync interface (``add_message``), then through its async one
(``aadd_messages``, from each process's own event loop).
Two more columns frame the append figures: ours with PostgreSQL's asynchronous commit
(``?synchronous_commit=off`` in the URL: an append is acknowledged before its WAL reaches the
disk), and a bare asyncpg ``INSERT`` per message with nothing else, the floor for any store that
commits each append. Schemas and tables are made fresh and dropped at the end.

``postgres_rows`` measures issue 12's PostgreSQL rows for ``bench_speed.py`` with the same
writers: ours through the core's async door (``SessionHistory.append_messages``) and through
LangChain's sync door, theirs through ``add_message``, in interleaved rounds.
"""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Iterator

import psycopg
from common import TEXT, Row, best_ms, interleave, ratios
from langchain_postgres import PostgresChatMessageHistory
from pg_writers import (
    Writers,
    appends_per_s,
    bare_writer,
    message,
    ours_async_writer,
    ours_core_writer,
    ours_writer,
    store_config,
    theirs_async_writer,
    theirs_writer,
)

from langchain_session_history import SessionChatMessageHistory
from session_history import ChatMessage, Session, SyncSessionHistory
from session_history.testing import drop_schema, with_schema


@contextlib.contextmanager
def fresh_stores(url: str) -> Iterator[tuple[str, str, psycopg.Connection[tuple[object, ...]]]]:
    """A schema of our own (migrated once, before writers race) and a langchain-postgres table,
    both new: ``(our URL, their table, an autocommit connection)``. Dropped afterwards."""
    ours = with_schema(url, f"bench_{uuid.uuid4().hex[:8]}")
    table = f"lc_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        PostgresChatMessageHistory.create_tables(admin, table)
        try:
            with SyncSessionHistory(store_config(ours)):
                pass
            yield ours, table, admin
        finally:
            drop_schema(ours)
            admin.execute(f'DROP TABLE IF EXISTS "{table}"')


def postgres_rows(
    url: str, rounds: int, per_writer: int, *, async_writers: tuple[int, ...], sync_door: bool
) -> list[Row]:
    """Issue 12's PostgreSQL rows, each contender's writers in processes of their own, in
    interleaved rounds against langchain-postgres' sync door: the core's async door with each
    number of ``async_writers``, then (``sync_door``) LangChain's sync door with one writer."""
    rows = []
    with fresh_stores(url) as (ours, table, _):
        theirs = ("langchain-postgres add_message", theirs_writer, (url, table))
        core = ("session-history append_messages", ours_core_writer, (ours,))
        contests = [(writers, core, "async door") for writers in async_writers]
        if sync_door:
            contests.append(
                (1, ("session-history add_message", ours_writer, (ours,)), "LangChain sync door")
            )
        for writers, mine, door in contests:
            print(f"  {door}, {writers} writer process(es), {per_writer} appends each:")
            with (
                Writers(mine[1], mine[2], writers, per_writer) as a,
                Writers(theirs[1], theirs[2], writers, per_writer) as b,
            ):
                figures = interleave({mine[0]: a.run, theirs[0]: b.run}, rounds, unit="appends/s")
            if door == "async door":
                figure = (
                    f"PostgreSQL appends, async door, {writers} writer process(es): "
                    "vs langchain-postgres `PostgresChatMessageHistory` (psycopg, sync)"
                )
                today = "0.3-0.96x"
            else:
                figure = (
                    "PostgreSQL, LangChain sync door (`SessionChatMessageHistory.add_message`), "
                    "1 writer: vs the same"
                )
                today = "0.3-0.99x"
            rows.append(Row.at_least(figure, today, 1.0, ratios(*figures.values())))
    return rows


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/test"
    rows = []
    async_rows = []
    extra = []
    with fresh_stores(url) as (ours, table, admin):
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

        with SyncSessionHistory(store_config(ours)) as store:
            forty = [ChatMessage(role="user", content=TEXT)] * 40
            for s in range(5000 - store.session_count()):
                store.create_session(
                    Session(session_id=f"s{s}", agent_name="a", model="m", messages=forty)
                )
            list_ms = best_ms(lambda: store.list_sessions())
            long = [message(i) for i in range(4000)]
            mine_chat = SessionChatMessageHistory("long", store)
            mine_chat.add_messages(long)
            their_chat = PostgresChatMessageHistory(table, str(uuid.uuid4()), sync_connection=admin)
            their_chat.add_messages(long)
            load_core = best_ms(lambda: store.load_session("long"))
            mine_ms = best_ms(lambda: mine_chat.messages)
            their_ms = best_ms(lambda: their_chat.messages)
        rows.append(("list 5,000 sessions: ms", f"{list_ms:.1f}", "(cannot list)"))
        rows.append(("load 4,000 messages (core models): ms", f"{load_core:.1f}", "-"))
        rows.append(
            ("load 4,000 messages (LangChain messages): ms", f"{mine_ms:.1f}", f"{their_ms:.1f}")
        )
    print(f"{'measure':<46} {'session-history':>16} {'langchain-postgres':>19}")
    for label, ours_text, other_text in rows:
        print(f"{label:<46} {ours_text:>16} {other_text:>19}")
    print()
    print(f"{'async door (aadd_messages)':<46} {'session-history':>16} {'langchain-postgres':>19}")
    for label, ours_text, other_text in async_rows:
        print(f"{label:<46} {ours_text:>16} {other_text:>19}")
    print()
    print(f"{'measure':<46} {'ours, async commit':>19} {'bare asyncpg INSERT':>20}")
    for label, ours_text, other_text in extra:
        print(f"{label:<46} {ours_text:>19} {other_text:>20}")


if __name__ == "__main__":
    main()
