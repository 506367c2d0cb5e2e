"""The writer processes of the PostgreSQL benchmarks: each writer a process of its own,
appending one message per call, in rounds that the parent starts all at once (``Writers``).

Ours through the core's async door, LangChain's sync and async doors; theirs (langchain-postgres'
``PostgresChatMessageHistory``) through its sync and async doors; and a bare asyncpg INSERT.
``bench_postgres.py`` and ``bench_speed.py`` compare them.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import queue
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from common import TEXT
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_postgres import PostgresChatMessageHistory

from langchain_session_history import SessionChatMessageHistory
from session_history import ChatMessage, HistoryConfig, Session, SessionHistory, SyncSessionHistory

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
