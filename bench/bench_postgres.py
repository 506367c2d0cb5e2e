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

``postgres_rows`` measures issue 12's PostgreSQL rows for ``bench_speed.py`` with the same
writers: ours through the core's async door (``SessionHistory.append_messages``) and through
LangChain's sync door, theirs through ``add_message``, in interleaved rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import queue
import sys
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psycopg
from common import TEXT, Row, best_ms, interleave, ratios
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_postgres import PostgresChatMessageHistory

from langchain_session_history import SessionChatMessageHistory
from session_history import ChatMessage, HistoryConfig, Session, SessionHistory, SyncSessionHistory
from session_history.backends.postgres import drop_schema, with_schema

PER_WRITER = 500


def message(i: int) -> BaseMessage:
    return HumanMessage(TEXT) if i % 2 == 0 else AIMessage(TEXT)


def chat_message(i: int) -> ChatMessage:
    """The core's form of ``message(i)``."""
    return ChatMessage(role="user" if i % 2 == 0 else "assistant", content=TEXT)


def store_config(url: str) -> HistoryConfig:
    return HistoryConfig(enabled=True, url=url, load_entrypoint_plugins=False)


# Each writer runs in a process of its own, as
# ``target(*args, per_writer, stop, writer, start, queue)``: it sets up (connects, creates its
# session), then round after round says it is ready, waits at the barrier ``start`` (which
# ``Writers.run`` releases), appends ``per_writer`` messages one per call, and puts when it began
# and ended on ``queue`` (wall clock, comparable across processes), until ``stop`` is set.
# Start-up is paid once per contender, not once per round, and never measured. A round that
# fails (another process's test dropping our connections: the suite's crash tests terminate
# every backend named 'session-history' on the server) is reported, and ``Writers.run`` runs it
# again.


def _failed(exc: BaseException) -> tuple[str, str]:
    return ("failed", f"{type(exc).__name__}: {str(exc)[:200]}")


def run_rounds(
    append: Callable[[int], object], per_writer: int, stop: Any, start: Any, queue: Any
) -> None:
    while True:
        queue.put("ready")
        start.wait()
        if stop.is_set():
            return
        began = time.time()
        try:
            for i in range(per_writer):
                append(i)
        except Exception as exc:  # noqa: BLE001 - the parent reports it and repeats the round
            queue.put(_failed(exc))
            continue
        queue.put((began, time.time()))


async def arun_rounds(
    append: Callable[[int], Awaitable[object]],
    per_writer: int,
    stop: Any,
    start: Any,
    queue: Any,
) -> None:
    while True:
        queue.put("ready")
        start.wait()  # blocks the loop, which has nothing else to do meanwhile
        if stop.is_set():
            return
        began = time.time()
        try:
            for i in range(per_writer):
                await append(i)
        except Exception as exc:  # noqa: BLE001 - the parent reports it and repeats the round
            queue.put(_failed(exc))
            continue
        queue.put((began, time.time()))


def ours_writer(url: str, per_writer: int, stop: Any, writer: int, start: Any, queue: Any) -> None:
    """Through LangChain's sync door (``SessionChatMessageHistory.add_message``)."""
    with SyncSessionHistory(store_config(url)) as store:
        chat = SessionChatMessageHistory(f"w{writer}-{uuid.uuid4().hex[:6]}", store)
        chat.add_message(message(0))  # creates the session
        run_rounds(lambda i: chat.add_message(message(i)), per_writer, stop, start, queue)


def ours_core_writer(
    url: str, per_writer: int, stop: Any, writer: int, start: Any, queue: Any
) -> None:
    """Through the core's async door (``SessionHistory.append_messages``), from the process's
    own event loop."""

    async def run() -> None:
        async with SessionHistory(store_config(url)) as store:
            session_id = f"c{writer}-{uuid.uuid4().hex[:6]}"
            await store.create_session(Session(session_id=session_id, agent_name="a", model="m"))
            await arun_rounds(
                lambda i: store.append_messages(session_id, [chat_message(i)]),
                per_writer,
                stop,
                start,
                queue,
            )

    asyncio.run(run())


def ours_async_writer(
    url: str, per_writer: int, stop: Any, writer: int, start: Any, queue: Any
) -> None:
    """Through LangChain's async door, from the application's own event loop."""

    async def run() -> None:
        async with SessionHistory(store_config(url)) as store:
            chat = SessionChatMessageHistory(f"a{writer}-{uuid.uuid4().hex[:6]}", store)
            await chat.aadd_messages([message(0)])
            await arun_rounds(
                lambda i: chat.aadd_messages([message(i)]), per_writer, stop, start, queue
            )

    asyncio.run(run())


def theirs_async_writer(
    url: str, table: str, per_writer: int, stop: Any, writer: int, start: Any, queue: Any
) -> None:
    warnings.simplefilter("ignore")

    async def run() -> None:
        conn = await psycopg.AsyncConnection.connect(url)
        chat = PostgresChatMessageHistory(table, str(uuid.uuid4()), async_connection=conn)
        await chat.aadd_messages([message(0)])
        await arun_rounds(
            lambda i: chat.aadd_messages([message(i)]), per_writer, stop, start, queue
        )
        await conn.close()

    asyncio.run(run())


def bare_writer(
    url: str, table: str, per_writer: int, stop: Any, writer: int, start: Any, queue: Any
) -> None:
    """The floor for any store that commits each append: one bare INSERT per message through
    asyncpg, into langchain-postgres' own table, with no summary, sequence or search index."""
    import asyncpg
    from langchain_core.messages import message_to_dict

    async def run() -> None:
        conn = await asyncpg.connect(url)
        sql = f'INSERT INTO "{table}" (session_id, message) VALUES ($1, $2::jsonb)'
        session_id = uuid.uuid4()
        await arun_rounds(
            lambda i: conn.execute(sql, session_id, json.dumps(message_to_dict(message(i)))),
            per_writer,
            stop,
            start,
            queue,
        )
        await conn.close()

    asyncio.run(run())


def theirs_writer(
    url: str, table: str, per_writer: int, stop: Any, writer: int, start: Any, queue: Any
) -> None:
    """langchain-postgres' ``PostgresChatMessageHistory.add_message`` on a psycopg (sync)
    connection, as its documentation shows it."""
    warnings.simplefilter("ignore")
    with psycopg.connect(url) as conn:
        chat = PostgresChatMessageHistory(table, str(uuid.uuid4()), sync_connection=conn)
        chat.add_message(message(0))
        run_rounds(lambda i: chat.add_message(message(i)), per_writer, stop, start, queue)


class Writers:
    """``writers`` processes running ``target``, kept across rounds: each ``run()`` is one
    round, all writers at once, and returns its appends per second (from the first writer's
    start to the last one's end). Use it as a context manager."""

    def __init__(
        self, target: Callable[..., None], args: tuple[object, ...], writers: int, per_writer: int
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.writers, self.per_writer = writers, per_writer
        self._ready = 0  # writers that said they are ready for the next round
        self._start = ctx.Barrier(writers + 1)  # the writers and this process, which releases
        self._stop = ctx.Event()
        self._queue = ctx.Queue()
        self._processes = [
            ctx.Process(
                target=target,
                args=(*args, per_writer, self._stop, w, self._start, self._queue),
            )
            for w in range(writers)
        ]

    def __enter__(self) -> Writers:
        for process in self._processes:
            process.start()
        return self

    def _next(self) -> Any:
        """The next message from a writer; an error, not a hang, when a writer has died."""
        while True:
            try:
                return self._queue.get(timeout=1)
            except queue.Empty:
                dead = [p.exitcode for p in self._processes if not p.is_alive()]
                if dead:
                    raise RuntimeError(
                        f"a writer process ended early (exit codes {dead})"
                    ) from None

    def _release(self) -> None:
        """Wait until every writer is ready, then let them all go at once."""
        # A writer that has finished a round says it is ready for the next one at once, so a
        # "ready" may have come in among the spans of the round before.
        while self._ready < self.writers:
            assert self._next() == "ready"
            self._ready += 1
        self._ready = 0
        self._start.wait()

    def _round(self) -> tuple[list[tuple[float, float]], list[str]]:
        self._release()
        spans: list[tuple[float, float]] = []
        failures: list[str] = []
        while len(spans) + len(failures) < self.writers:
            message = self._next()
            if message == "ready":
                self._ready += 1
            elif message[0] == "failed":
                failures.append(message[1])
            else:
                spans.append(message)
        return spans, failures

    def run(self) -> float:
        for _ in range(3):
            spans, failures = self._round()
            if not failures:
                elapsed = max(end for _, end in spans) - min(began for began, _ in spans)
                return self.writers * self.per_writer / elapsed
            print(f"    (round run again: {len(failures)} writer(s) failed: {failures[0]})")
        raise RuntimeError(f"three rounds in a row failed: {failures[0]}")

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self._stop.set()
            self._release()  # into a round in which they see the stop and return
        else:
            # Something failed here: release the writers waiting for a round that will not come.
            self._start.abort()
        for process in self._processes:
            process.join(timeout=60)
            if process.is_alive():  # it failed to finish: do not leave it behind
                process.terminate()
                process.join()
        codes = [p.exitcode for p in self._processes]
        if exc[0] is None and any(codes):
            raise RuntimeError(f"a writer process failed (exit codes {codes})")


def appends_per_s(
    target: Callable[..., None],
    args: tuple[object, ...],
    writers: int,
    per_writer: int = PER_WRITER,
) -> float:
    """Appends per second of one round of ``writers`` processes running ``target``."""
    with Writers(target, args, writers, per_writer) as pool:
        return pool.run()


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
            asyncio.run(drop_schema(ours))
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
