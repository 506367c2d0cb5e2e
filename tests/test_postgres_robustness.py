"""PostgreSQL under trouble: backends killed under load, a role's connection limit, a pool's
size and wait, schemas that are not ours, and pools that end with their loop or their store."""

from __future__ import annotations

import asyncio
import gc
import re
import subprocess
import sys
import textwrap
import threading
import uuid
import weakref
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio

from session_history import (
    ChatMessage,
    ConnectionLostError,
    DatabaseError,
    HistoryConfig,
    NotADatabaseError,
    SessionHistory,
    SessionHistoryError,
)
from session_history._urls import split_schema

from .helpers import server_dsn, session

POSTGRES = pytest.mark.session_history(backends=["postgresql"])
TERMINATE = (
    # With a timeout, the server answers once the backends have exited: their last words (the
    # FATAL and the close) are on the way to the client when this returns.
    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = $1"
)
DRIVER_WORDS = ("state", "another operation", "released back", "Interface", "Internal", "asyncpg")


def _config(url: str, **kw: object) -> HistoryConfig:
    return HistoryConfig(enabled=True, url=url, load_entrypoint_plugins=False, **kw)  # type: ignore[arg-type]


@pytest.fixture
def app_name() -> str:
    """A name for a store's connections, so a test can find (and kill) them and no others."""
    return f"sh-test-{uuid.uuid4().hex[:12]}"


@pytest_asyncio.fixture
async def admin(session_history_db: str) -> AsyncIterator[object]:
    """A connection of the test's own to the server, as the superuser."""
    import asyncpg

    conn = await asyncpg.connect(server_dsn(session_history_db))
    yield conn
    await conn.close()


async def _count(admin: object, sql: str, *args: object, until: int | None = None) -> int:
    """``SELECT count(*)`` once it is ``until`` (a backend leaves pg_stat_activity a moment
    after its client closes) or after 5 s."""
    for _ in range(50):
        found = int(await admin.fetchval(sql, *args))  # type: ignore[attr-defined]
        if until is None or found == until:
            break
        await asyncio.sleep(0.1)
    return found


# -- backends killed -------------------------------------------------------------------------


@POSTGRES
async def test_a_backend_kill_fails_at_most_the_call_in_flight_of_each_task(
    session_history_db: str, admin: object, app_name: str
) -> None:
    """Eight tasks append and read while every connection of the store is killed, five times:
    a task never fails twice in a row, a read never fails (it runs again on a fresh
    connection), and each failure is one ConnectionLostError in words, not the driver's."""
    url = f"{session_history_db}&application_name={app_name}"
    failures: dict[int, list[BaseException]] = {t: [] for t in range(8)}
    streaks = dict.fromkeys(range(8), 0)
    failed_reads: list[BaseException] = []
    stop = asyncio.Event()
    async with SessionHistory(_config(url)) as history:
        for t in range(8):
            await history.create_session(session(f"s{t}"))

        async def work(t: int) -> None:
            streak = i = 0
            while not stop.is_set():
                i += 1
                try:
                    if i % 2:
                        await history.append_messages(
                            f"s{t}", [ChatMessage(role="user", content=str(i))]
                        )
                    else:
                        await history.load_messages(f"s{t}", last=3)
                    streak = 0
                except SessionHistoryError as exc:
                    failures[t].append(exc)
                    streak += 1
                    streaks[t] = max(streaks[t], streak)
                    if not i % 2:
                        failed_reads.append(exc)

        tasks = [asyncio.ensure_future(work(t)) for t in range(8)]
        for _ in range(5):
            await asyncio.sleep(0.15)
            await admin.execute(TERMINATE, app_name)  # type: ignore[attr-defined]
        await asyncio.sleep(0.15)
        stop.set()
        await asyncio.gather(*tasks)
        for t in range(8):  # and every task's next call works
            await history.append_messages(f"s{t}", [ChatMessage(role="user", content="after")])

    errors = [exc for found in failures.values() for exc in found]
    assert errors, "no kill hit a call in flight: the test proved nothing"
    assert max(streaks.values()) == 1, streaks
    assert failed_reads == []
    for exc in errors:
        message = str(exc)
        assert isinstance(exc, ConnectionLostError), message
        assert "was lost during this call (the server ended it: terminating connection" in message
        assert "The call can be retried" in message and "\n" not in message
        assert not [word for word in DRIVER_WORDS if word in message], message


@POSTGRES
async def test_a_pool_whose_connections_were_all_killed_serves_the_next_calls(
    session_history_db: str, admin: object, app_name: str
) -> None:
    """Killed while idle, just before the next calls: they do not send into dead connections,
    they run on new ones. Writes too, which could not be run again once sent."""
    url = f"{session_history_db}&application_name={app_name}"
    async with SessionHistory(_config(url)) as history:
        for t in range(8):
            await history.create_session(session(f"s{t}"))
        blocker = await asyncio.gather(*(history.get_summary(f"s{t}") for t in range(8)))
        assert all(blocker)
        open_ones = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
        assert await _count(admin, open_ones, app_name) > 1  # the pool holds several
        for _ in range(3):
            # From another thread, this loop blocked meanwhile: it has not read the servers'
            # last words when the calls start.
            killer = threading.Thread(
                target=asyncio.run, args=(_kill(session_history_db, app_name),)
            )
            killer.start()
            killer.join()
            await asyncio.gather(
                *(
                    history.append_messages(f"s{t}", [ChatMessage(role="user", content="x")])
                    for t in range(8)
                ),
                *(history.load_messages(f"s{t}") for t in range(8)),
            )
        counts = [(await history.get_summary(f"s{t}")).message_count for t in range(8)]  # type: ignore[union-attr]
    assert counts == [3] * 8


async def _kill(url: str, app_name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_dsn(url))
    try:
        await conn.execute(TERMINATE, app_name)
    finally:
        await conn.close()


# -- the pool's size, its wait, and a server that allows fewer ---------------------------------


@pytest_asyncio.fixture
async def limited(session_history_db: str, admin: object) -> AsyncIterator[str]:
    """The test's URL as a role allowed two connections (CONNECTION LIMIT 2) that owns the test's
    schema and may do nothing else; the role and the schema are dropped afterwards."""
    role = f"sh_test_{uuid.uuid4().hex[:12]}"
    _, schema = split_schema(session_history_db)
    await admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 2')  # type: ignore[attr-defined]
    await admin.execute(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{role}"')  # type: ignore[attr-defined]
    yield session_history_db.replace("postgres@", f"{role}@", 1)
    await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # type: ignore[attr-defined]
    by_role = "SELECT count(*) FROM pg_stat_activity WHERE usename = $1"
    await _count(admin, by_role, role, until=0)
    await admin.execute(f'DROP ROLE "{role}"')  # type: ignore[attr-defined]


@POSTGRES
async def test_calls_wait_for_a_connection_when_the_role_allows_only_two(
    limited: str, admin: object
) -> None:
    """160 appends from 8 tasks through a pool of 10 whose server refuses the third connection:
    the pool works with two, every call is stored, none fails."""
    async with SessionHistory(_config(limited)) as history:
        for t in range(8):
            await history.create_session(session(f"s{t}"))

        async def work(t: int) -> None:
            for i in range(20):
                await history.append_messages(f"s{t}", [ChatMessage(role="user", content=str(i))])

        await asyncio.gather(*(work(t) for t in range(8)))
        summaries = [await history.get_summary(f"s{t}") for t in range(8)]
    assert [s.message_count for s in summaries if s is not None] == [20] * 8


@POSTGRES
async def test_a_call_fails_clearly_when_no_connection_frees_within_the_pool_timeout(
    limited: str, admin: object
) -> None:
    """Another client holds both of the role's connections: the store waits pool_timeout, then
    says why; when one is freed in time, the store opens and works."""
    import asyncpg

    others = [await asyncpg.connect(split_schema(limited)[0]) for _ in range(2)]
    try:
        config = _config(limited, pool_timeout=timedelta(seconds=0.5))
        with pytest.raises(DatabaseError) as info:
            async with SessionHistory(config):
                pass
        message = str(info.value)
        assert "no connection to PostgreSQL at 127.0.0.1 became free within the pool timeout " in (
            message
        )
        assert "(0.5 s): the server refuses every new connection (too many connections" in message

        async def free_one() -> None:
            await asyncio.sleep(0.2)
            await others.pop().close()

        freeing = asyncio.ensure_future(free_one())
        async with SessionHistory(_config(limited, pool_timeout=timedelta(seconds=10))) as h:
            await h.create_session(session("s"))
        await freeing
    finally:
        for other in others:
            await other.close()


@POSTGRES
async def test_the_pool_size_and_timeout_come_from_the_config_or_the_url(
    session_history_db: str, admin: object, app_name: str
) -> None:
    """pool_size in the URL (or the config, which wins) caps the connections: calls beyond it
    wait their turn, all of them stored; one that waits past pool_timeout fails, storing
    nothing."""
    open_ones = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
    for url_part, config_size, expected in (("&pool_size=2", None, 2), ("&pool_size=5", 3, 3)):
        url = f"{session_history_db}&application_name={app_name}{url_part}"
        async with SessionHistory(_config(url, pool_size=config_size)) as history:
            await history.create_session(session("s"))
            seen: list[int] = []

            async def hold(i: int, history: SessionHistory = history) -> None:
                async def slow(conn: object) -> None:  # holds its connection for a while
                    await conn.execute("SELECT pg_sleep(0.3)")  # type: ignore[attr-defined]

                await history._backend._db.read(slow)  # type: ignore[attr-defined]

            holding = asyncio.gather(*(hold(i) for i in range(8)))
            await asyncio.sleep(0.15)
            seen.append(await _count(admin, open_ones, app_name))
            await holding
            await history.delete_session("s")
        assert seen == [expected]

    url = f"{session_history_db}&application_name={app_name}&pool_size=1&pool_timeout=60"
    config = _config(url, pool_timeout=timedelta(seconds=0.2))
    async with SessionHistory(config) as history:
        await history.create_session(session("s"))

        async def slow(conn: object) -> None:
            await conn.execute("SELECT pg_sleep(1)")  # type: ignore[attr-defined]

        holding = asyncio.ensure_future(history._backend._db.read(slow))  # type: ignore[attr-defined]
        await asyncio.sleep(0.1)
        with pytest.raises(DatabaseError, match=r"within the pool timeout \(0\.2 s\): all 1 of"):
            await history.append_messages("s", [ChatMessage(role="user", content="late")])
        await holding
        assert await history.load_messages("s") == []


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("pool_size=0", "pool_size must be a whole number from 1 to 1000, not '0'"),
        ("pool_size=two", "pool_size must be a whole number from 1 to 1000, not 'two'"),
        ("pool_size=1001", "pool_size must be a whole number from 1 to 1000, not '1001'"),
        ("pool_timeout=-1", "pool_timeout must be a number of seconds above 0, not '-1'"),
        ("pool_timeout=inf", "pool_timeout must be a number of seconds above 0, not 'inf'"),
    ],
)
def test_a_bad_pool_setting_in_the_url_is_one_line_before_any_connection(
    query: str, words: str
) -> None:
    with pytest.raises(DatabaseError, match=rf"is not a usable PostgreSQL URL: {words}") as info:
        SessionHistory(_config(f"postgresql://u:pw@127.0.0.1:1/db?{query}"))
    assert "\n" not in str(info.value) and "pw" not in str(info.value)


# -- schemas that are not ours ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ("", "the schema parameter is empty; name a schema"),
        ("s" * 64, "the schema name is 64 bytes long and PostgreSQL keeps only the first 63"),
        ("é" * 32, "the schema name is 64 bytes long"),
        ("a%00b", "the schema name contains the NUL character"),
    ],
)
def test_a_schema_postgresql_cannot_name_is_refused_before_any_connection(
    schema: str, words: str
) -> None:
    with pytest.raises(DatabaseError, match=words) as info:
        SessionHistory(_config(f"postgresql://u@127.0.0.1:1/db?schema={schema}"))
    assert "\n" not in str(info.value)


@POSTGRES
@pytest.mark.parametrize(
    ("table", "words"),
    [
        ("sessions (id int, title text)", "it holds a table 'sessions', and no record of our"),
        ("messages (id int, body text)", "it holds a table 'messages', and no record of our"),
        ("migrations (id int, name text)", "a 'migrations' table that is not ours (id integer"),
        (  # the same shape as ours (a Django-like app's), its own steps in it
            "migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL)",
            "a 'migrations' table without session-history's first step, m001_initial "
            "(recording: 0001_initial)",
        ),
    ],
)
async def test_another_programs_table_in_the_schema_is_named_and_left_alone(
    session_history_db: str, admin: object, table: str, words: str
) -> None:
    _, schema = split_schema(session_history_db)
    name = table.split()[0]
    await admin.execute(f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}".{table}')  # type: ignore[attr-defined]
    first = "'0001_initial', now()" if "applied_at" in table else "1, 'theirs'"
    await admin.execute(f'INSERT INTO "{schema}".{name} VALUES ({first})')  # type: ignore[attr-defined]
    for read_only in (False, True):
        with pytest.raises(NotADatabaseError, match=re.escape(words)) as info:
            async with SessionHistory(_config(session_history_db, read_only=read_only)):
                pass
        message = str(info.value)
        assert f"the PostgreSQL schema '{schema}' belongs to another program" in message
        assert "nothing was changed. Give session-history a schema of its own" in message
        assert "newer version" not in message and "Report this" not in message
    tables = await admin.fetch(  # type: ignore[attr-defined]
        "SELECT tablename FROM pg_tables WHERE schemaname = $1", schema
    )
    assert [r["tablename"] for r in tables] == [name]
    assert len(await admin.fetch(f'SELECT * FROM "{schema}".{name}')) == 1  # type: ignore[attr-defined]


@POSTGRES
async def test_a_schema_shared_with_another_programs_other_tables_works(
    session_history_db: str, admin: object
) -> None:
    _, schema = split_schema(session_history_db)
    await admin.execute(f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}".users (id int)')  # type: ignore[attr-defined]
    async with SessionHistory(_config(session_history_db)) as history:
        await history.create_session(session("s"))
    async with SessionHistory(_config(session_history_db)) as history:  # and opens again
        assert await history.session_count() == 1


# -- pools that end ----------------------------------------------------------------------------


@POSTGRES
def test_a_closed_pool_is_freed_at_once_not_by_the_garbage_collector(
    session_history_db: str,
) -> None:
    """Stores opened and closed on one long-lived loop (an application's, the blocking doors'
    background loop) leave nothing behind for the collector: a pool and its connections' buffers
    once waited in a reference cycle for its slowest generation (RSS grew ~1 MB per 1,000)."""
    pools: list[weakref.ref[object]] = []

    async def cycles() -> list[object]:
        left = []
        for _ in range(3):
            async with SessionHistory(_config(session_history_db)) as history:
                await history.session_count()
                backend = history._backend._db  # type: ignore[attr-defined]
                pools.extend(weakref.ref(p) for p in backend._pools.values())
            await asyncio.sleep(0)
            left.append(pools[-1]())  # on the loop, which goes on
        return left

    gc.collect()
    gc.disable()
    try:
        assert asyncio.run(cycles()) == [None] * 3
    finally:
        gc.enable()


CANCELLED_AT_THE_END = """
import asyncio, sys
import asyncpg
from session_history import ChatMessage, HistoryConfig, Session, SessionHistory, run_sync
from session_history._urls import split_schema

url, session_id = sys.argv[1], sys.argv[2]
history = SessionHistory(HistoryConfig(enabled=True, url=url, load_entrypoint_plugins=False))

async def main():
    await history.create_session(Session(session_id=session_id, agent_name="a", model="m"))
    dsn, schema = split_schema(url)
    blocker = await asyncpg.connect(dsn)
    tr = blocker.transaction()
    await tr.start()
    await blocker.execute(f'SELECT 1 FROM "{schema}".sessions FOR UPDATE')
    call = asyncio.ensure_future(
        history.append_messages(session_id, [ChatMessage(role="user", content="x")])
    )
    await asyncio.sleep(0.2)  # the append waits for the row lock, on its connection
    call.cancel()
    blocker.terminate()
    # main ends at once: asyncio.run cancels what is left (the pool waiting out the cancelled
    # statement) and closes the pool as the loop shuts down.

asyncio.run(main())
run_sync(history.close)
print("ended")
"""


@POSTGRES
def test_calls_cancelled_as_their_loop_ends_neither_hang_it_nor_leave_a_task_pending(
    session_history_db: str, app_name: str
) -> None:
    """asyncio.run once waited forever for a connection whose release its own end had
    cancelled; and nothing may be left for "Task was destroyed but it is pending!"."""
    url = f"{session_history_db}&application_name={app_name}"
    script = textwrap.dedent(CANCELLED_AT_THE_END)
    for run in range(3):
        done = subprocess.run(
            [sys.executable, "-X", "dev", "-c", script, url, f"s{run}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0 and done.stdout == "ended\n", done.stderr
        assert "Task was destroyed" not in done.stderr and "never awaited" not in done.stderr
        assert "Traceback" not in done.stderr, done.stderr

    async def left() -> int:
        import asyncpg

        conn = await asyncpg.connect(server_dsn(session_history_db))
        try:
            sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
            return await _count(conn, sql, app_name, until=0)
        finally:
            await conn.close()

    assert asyncio.run(left()) == 0
