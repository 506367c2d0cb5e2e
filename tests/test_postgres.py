"""What only the PostgreSQL backend has to prove: servers starting at once, dropped connections,
and errors that name the host but never the password."""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import uuid
from collections.abc import Iterator

import pytest

from session_history import (
    ChatMessage,
    DatabaseError,
    HistoryConfig,
    SessionHistory,
    SyncSessionHistory,
    run_sync,
)
from session_history._backends.postgres.connection import ident

from .helpers import raw_sql, server_dsn, session

POSTGRES = pytest.mark.session_history(backends=["postgresql"])


@pytest.fixture
def named(session_history_db: str) -> Iterator[tuple[SessionHistory, str]]:
    """A store whose connections carry a name of their own, so a test can drop them (and no
    other test's, in this run or another)."""
    name = f"sh-test-{uuid.uuid4().hex[:12]}"
    url = f"{session_history_db}&application_name={name}"
    history = SessionHistory(HistoryConfig(enabled=True, url=url, load_entrypoint_plugins=False))
    run_sync(history.open)
    yield history, name
    run_sync(history.close)


def _open_and_count(url: str) -> None:
    config = HistoryConfig(enabled=True, url=url, load_entrypoint_plugins=False)
    with SyncSessionHistory(config) as history:
        history.session_count()


@POSTGRES
def test_servers_starting_at_once_apply_each_migration_once(session_history_db: str) -> None:
    url = session_history_db
    ctx = multiprocessing.get_context("spawn")
    processes = [ctx.Process(target=_open_and_count, args=(url,)) for _ in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * 4

    async def applied() -> list[str]:
        config = HistoryConfig(enabled=True, url=url, load_entrypoint_plugins=False)
        async with SessionHistory(config) as history:
            rows = await raw_sql(history, "", "SELECT name FROM {s}.migrations ORDER BY name")
        return [str(r[0]) for r in rows]

    assert asyncio.run(applied()) == [
        "m001_initial",
        "m002_exact_json",
        "m003_search_tokens",
        "m004_tree",
    ]


@POSTGRES
async def test_a_dropped_connection_loses_nothing_acknowledged(
    named: tuple[SessionHistory, str], session_history_db: str
) -> None:
    import asyncpg

    history, name = named

    await history.create_session(session("s"))
    acknowledged: list[int] = []
    killed = 0
    killer = await asyncpg.connect(server_dsn(session_history_db))
    try:
        for i in range(60):
            if i % 10 == 5:  # the server drops every connection of ours, between or during calls
                killed += len(
                    await killer.fetch(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = $1",
                        name,
                    )
                )
            batch = [ChatMessage(role="user", content=f"{i}:{part}") for part in range(3)]
            try:
                await history.append_messages("s", batch)
                acknowledged.append(i)
            except DatabaseError:
                pass  # a call the drop hit while its write was on the way: reported, not known
    finally:
        await killer.close()
    # Connections were dropped (a call that had sent nothing yet is run again on a new one, so
    # a drop need not fail any call: test_postgres_robustness counts those that do).
    assert killed >= 1, "the test did not drop any connection"
    loaded = await history.load_session("s")
    summary = await history.get_summary("s")
    assert loaded is not None and summary is not None
    contents = [m.content or "" for m in loaded.messages]
    calls = [int(contents[k].split(":")[0]) for k in range(0, len(contents), 3)]
    for k, call in enumerate(calls):  # every append whole, in order, never half
        assert contents[3 * k : 3 * k + 3] == [f"{call}:{part}" for part in range(3)]
    assert set(acknowledged) <= set(calls)
    assert summary.message_count == len(contents)


@POSTGRES
async def test_a_cancelled_append_writes_nothing_and_the_store_goes_on(
    session_history: SessionHistory, session_history_db: str
) -> None:
    """A call cancelled while PostgreSQL works on it (here: waits for a row lock) stores
    nothing, and the calls after it, on the connection it leaves behind, work."""
    import asyncpg

    await session_history.create_session(session("s"))
    blocker = await asyncpg.connect(server_dsn(session_history_db))
    schema = ident(session_history._backend.schema)  # type: ignore[attr-defined]
    try:
        async with blocker.transaction():
            await blocker.execute(
                f"SELECT 1 FROM {schema}.sessions WHERE session_id = 's' FOR UPDATE"
            )
            blocked = asyncio.ensure_future(
                session_history.append_messages(
                    "s", [ChatMessage(role="user", content="cancelled")]
                )
            )
            await asyncio.sleep(0.3)
            assert not blocked.done(), "the append did not wait for the row lock"
            blocked.cancel()
            with pytest.raises(asyncio.CancelledError):
                await blocked
            # The caller sees the cancel at once; the server hears of it a moment later (a
            # cancel request on a connection of its own). Hold the lock until then, or the
            # statement would go on and commit, as a cancelled call's write may.
            await asyncio.sleep(0.5)
    finally:
        await blocker.close()
    for i in range(5):  # sequential calls: the same connection is reused after the cancel
        await session_history.append_messages("s", [ChatMessage(role="user", content=f"kept {i}")])
    loaded = await session_history.load_session("s")
    assert loaded is not None
    assert [m.content for m in loaded.messages] == [f"kept {i}" for i in range(5)]
    summary = await session_history.get_summary("s")
    assert summary is not None and summary.message_count == 5


@POSTGRES
def test_url_parameters_reach_the_server_as_settings(session_history_db: str) -> None:
    """How a deployment opts into asynchronous commit (README, "PostgreSQL")."""
    url = f"{session_history_db}&synchronous_commit=off"
    config = HistoryConfig(enabled=True, url=url, load_entrypoint_plugins=False)
    with SyncSessionHistory(config) as history:
        history.create_session(session("s", messages=[ChatMessage(role="user", content="x")]))
        setting = run_sync(raw_sql, history.history, "", "SHOW synchronous_commit")
        assert setting == [("off",)]
        schema = session_history_db.rsplit("schema=", 1)[1]
        assert history.history._backend.schema == schema  # type: ignore[attr-defined]
        assert history.get_summary("s").message_count == 1  # type: ignore[union-attr]


async def test_errors_name_the_host_and_never_the_password() -> None:
    config = HistoryConfig(
        enabled=True,
        url="postgresql://agent:hunter2@127.0.0.1:1/db",
        load_entrypoint_plugins=False,
    )
    with pytest.raises(
        DatabaseError, match=r"cannot connect to PostgreSQL at 127\.0\.0\.1"
    ) as info:
        async with SessionHistory(config):
            pass
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(SessionHistory(config))
    assert info.value.path is not None and "hunter2" not in info.value.path


@POSTGRES
async def test_the_nul_character_is_refused_in_agent_and_model_names_only(
    session_history: SessionHistory,
) -> None:
    """Text columns cannot hold U+0000; JSON bodies keep it escaped, so messages can. (Session
    ids are refused on every backend: tests/test_postgres_robustness.py.)"""
    from session_history import InvalidQueryError

    for fields in ({"agent_name": "a\x00"}, {"model": "\x00"}):
        with pytest.raises(InvalidQueryError, match="NUL character"):
            await session_history.create_session(session(**fields))  # type: ignore[arg-type]
    assert await session_history.session_count() == 0


@POSTGRES
async def test_text_that_merely_spells_the_nul_escape_is_stored(
    session_history: SessionHistory,
) -> None:
    """Found by hypothesis: the six characters \\u0000 are text, not U+0000."""
    spelled = ["\\u0000", "\\\\\\u0000", "see \\u0000 in JSON"]
    await session_history.create_session(session("s"))
    await session_history.append_messages(
        "s", [ChatMessage(role="user", content=c) for c in spelled]
    )
    loaded = await session_history.load_session("s")
    assert loaded is not None and [m.content for m in loaded.messages] == spelled


def test_a_url_without_the_driver_is_one_line_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No asyncpg installed: the library raises a SessionHistoryError, the CLI prints one line."""
    from click.testing import CliRunner

    from session_history import SessionHistoryError
    from session_history.cli import cli

    monkeypatch.setitem(sys.modules, "asyncpg", None)  # import asyncpg now fails
    config = HistoryConfig(enabled=True, url="postgresql://u:secret@db.invalid/app")
    # Not "pip install session-history[postgres]": the package is not on PyPI.
    with pytest.raises(SessionHistoryError, match=r'checkout .*pip install -e "\.\[postgres\]"'):
        SyncSessionHistory(config)
    result = CliRunner().invoke(cli, ["--db", "postgresql://u:secret@db.invalid/app", "list"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and '-e ".[postgres]"' in result.output
    assert "session-history[postgres]" not in result.output
    assert "secret" not in result.output and "Traceback" not in result.output


@POSTGRES
async def test_only_the_call_in_flight_fails_when_the_server_drops_the_connections(
    named: tuple[SessionHistory, str], session_history_db: str
) -> None:
    """pg_terminate_backend: between calls nothing fails; during a call, that call fails with
    one ConnectionLostError that says what happened, and every call after it works."""
    import asyncpg

    history, name = named

    from session_history import ConnectionLostError

    terminate = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1"
    await history.create_session(session("s"))
    killer = await asyncpg.connect(server_dsn(session_history_db))
    try:
        await killer.execute(terminate, name)  # while idle
        await asyncio.sleep(0.3)  # the server ends its backends a moment after it says so
        for i in range(5):
            await history.append_messages("s", [ChatMessage(role="user", content=f"idle {i}")])

        blocker = await asyncpg.connect(server_dsn(session_history_db))
        try:
            async with blocker.transaction():
                schema = ident(history._backend.schema)  # type: ignore[attr-defined]
                await blocker.execute(f"SELECT 1 FROM {schema}.sessions FOR UPDATE")
                blocked = asyncio.ensure_future(
                    history.append_messages("s", [ChatMessage(role="user", content="lost")])
                )
                await asyncio.sleep(0.3)
                await killer.execute(terminate, name)  # during the append, which waits for the lock
                with pytest.raises(ConnectionLostError) as lost:
                    await blocked
        finally:
            await blocker.close()
        message = str(lost.value)
        assert "connection to PostgreSQL at 127.0.0.1 was lost" in message
        assert "released back" not in message and "another operation" not in message
        await asyncio.sleep(0.3)
        for i in range(5):  # every call after it works, on fresh connections
            await history.append_messages("s", [ChatMessage(role="user", content=f"after {i}")])
    finally:
        await killer.close()
    loaded = await history.load_messages("s")
    assert [m.content for m in loaded] == [f"idle {i}" for i in range(5)] + [
        f"after {i}" for i in range(5)
    ]


@POSTGRES
def test_each_event_loop_gets_a_pool_of_its_own_closed_when_the_loop_ends(
    session_history_db: str,
) -> None:
    """asyncio.run after asyncio.run, and threads each with a loop: every call runs on its own
    loop, and when a loop ends its connections are closed; close() never waits on a loop."""
    import threading

    import asyncpg

    name = f"sh-test-{uuid.uuid4().hex[:12]}"
    url = f"{session_history_db}&application_name={name}"
    history = SessionHistory(HistoryConfig(enabled=True, url=url, load_entrypoint_plugins=False))

    async def count(expected: int) -> int:
        """The store's connections, once they are ``expected`` (a closed connection's server
        process leaves pg_stat_activity a moment after the client closes it) or after 5 s."""
        conn = await asyncpg.connect(server_dsn(session_history_db))
        try:
            for _ in range(50):
                found = int(
                    await conn.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name
                    )
                )
                if found == expected:
                    break
                await asyncio.sleep(0.1)
        finally:
            await conn.close()
        return found

    def connections(expected: int) -> int:
        return asyncio.run(count(expected))

    async def first() -> None:
        await history.open()
        await history.create_session(session("s"))

    asyncio.run(first())
    assert connections(0) == 0  # the loop ended: its pool was closed with it

    def writer(i: int) -> None:
        asyncio.run(history.append_messages("s", [ChatMessage(role="user", content=str(i))]))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert connections(0) == 0
    assert sorted(m.content or "" for m in run_sync(history.load_messages, "s")) == [
        "0",
        "1",
        "2",
        "3",
    ]
    assert connections(1) == 1  # the background loop's pool, for blocking calls
    run_sync(history.close)
    assert connections(0) == 0
