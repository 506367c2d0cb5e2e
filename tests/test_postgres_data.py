"""What the PostgreSQL backend must get right about the data: schemas written by older versions,
writers racing one another, prune choosing while others write, search marks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from session_history import (
    ChatMessage,
    HistoryConfig,
    SessionHistory,
    SessionSummary,
    SyncSessionHistory,
    Usage,
)
from session_history._backends.postgres.connection import ident
from session_history._urls import split_schema

from .helpers import raw_sql, server_dsn, session, text

POSTGRES = pytest.mark.session_history(backends=["postgresql"])


@POSTGRES
async def test_m003_reindexes_rows_written_before_it(session_history_config: HistoryConfig) -> None:
    """Rows indexed with the old key (the folded text, which PostgreSQL's parser reads as
    "www.example.com" one token) are indexed by their tokens once the migration runs."""
    async with SessionHistory(session_history_config) as history:
        await history.create_session(session("s", messages=[text("user", "see www.example.com")]))
        await raw_sql(history, "", "UPDATE {s}.messages SET search_key = lower(search_text)")
        await raw_sql(history, "", "DELETE FROM {s}.migrations WHERE name = 'm003_search_tokens'")
        assert await history.search("example") == []  # the old key, as the old code left it
    async with SessionHistory(session_history_config) as history:
        assert [h.seq for h in await history.search("example")] == [0]
        assert [h.seq for h in await history.search("www.example.com")] == [0]


@POSTGRES
@pytest.mark.parametrize("door", ["save", "import"])
async def test_a_session_another_writer_inserts_meanwhile_is_replaced(
    session_history: SessionHistory, session_history_db: str, door: str
) -> None:
    """A save or import of a new id, while another transaction inserts that id: the other
    commits first, and this call replaces its session (it found no row to lock, so its insert
    conflicts; it was an AssertionError)."""
    import asyncpg

    await session_history.create_session(session("other"))  # the schema is there
    mine = session("s", messages=[text("user", "mine")])

    async def store() -> int:
        """Sessions the import reports replaced (a save reports nothing)."""
        if door == "save":
            await session_history.save_session(mine)
            return 0
        return (await session_history.import_jsonl([mine.model_dump_json()])).replaced

    schema = ident(session_history._backend.schema)  # type: ignore[attr-defined]
    writer = await asyncpg.connect(server_dsn(session_history_db))
    try:
        async with writer.transaction():
            await writer.execute(
                f"INSERT INTO {schema}.sessions (session_id, agent_name, model, started_at, "
                "updated_at) VALUES ('s', 'theirs', 'theirs', now(), now())"
            )
            call = asyncio.ensure_future(store())
            await asyncio.sleep(0.3)
            assert not call.done(), "the call did not wait for the other transaction"
        assert await call == (door == "import")  # the other transaction committed
    finally:
        await writer.close()
    loaded = await session_history.load_session("s")
    assert loaded is not None and loaded.agent_name == "agent"
    assert [m.content for m in loaded.messages] == ["mine"]


@POSTGRES
async def test_highlight_marks_may_hold_quotes_and_commas(
    session_history: SessionHistory,
) -> None:
    """ts_headline takes its marks inside an option list: a mark with a double quote broke it
    (the statement was refused), where SQLite's snippet takes any text."""
    await session_history.create_session(session("s", messages=[text("user", "hello world")]))
    marks = ('<b class="hit">, ', '</b>"')
    (hit,) = await session_history.search("world", highlight=marks)
    assert hit.snippet == 'hello <b class="hit">, world</b>"'


@POSTGRES
async def test_prune_deletes_exactly_the_sessions_it_reports(
    session_history: SessionHistory,
    session_history_config: HistoryConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A session created by another writer between prune's choice and its delete shifts "all but
    the newest N": the delete used to run the selection again and remove one more session than
    it reported."""
    from session_history._backends.postgres import removal

    for name in ("a", "b"):
        await session_history.create_session(session(name))
    with SyncSessionHistory(session_history_config) as other:
        real = removal.summaries

        def meanwhile(texts: Iterator[str]) -> list[SessionSummary]:
            other.create_session(session("c"))  # committed by another connection, right now
            return real(texts)

        monkeypatch.setattr(removal, "summaries", meanwhile)
        pruned = [s.id for s in await session_history.prune(max_sessions=1)]
    monkeypatch.undo()
    kept = [s.id for s in await session_history.list_sessions()]
    assert pruned == ["a"]
    assert sorted(kept) == ["b", "c"]


@POSTGRES
async def test_m002_keeps_a_database_written_before_it_and_its_numbers_exact_after(
    session_history_db: str,
) -> None:
    """A schema as m001 left it (``jsonb`` columns, usage added on ``jsonb``), with a session in
    it: after the migration the session reads back, usage still adds up, and numbers written
    from then on keep their exact form."""
    import asyncpg

    from session_history._backends.postgres.schema import migrations

    dsn, schema = split_schema(session_history_db)
    s = ident(schema)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"CREATE SCHEMA {s}")
        await conn.execute(
            f"CREATE TABLE {s}.migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL)"
        )
        first = next(iter(migrations))
        assert first.name == "m001_initial"
        await first.apply((conn, s))
        await conn.execute(f"INSERT INTO {s}.migrations VALUES ('m001_initial', now())")
        pk = await conn.fetchval(
            f"INSERT INTO {s}.sessions (session_id, agent_name, model, started_at, updated_at, "
            "message_count, turn_count, usage, metadata) "
            "VALUES ('old', 'a', 'm', now(), now(), 1, 1, "
            """'{"input_tokens": 3, "details": {"cached": 1}}', '{"team": "x"}') RETURNING pk"""
        )
        await conn.execute(
            f"INSERT INTO {s}.messages (session_pk, seq, role, body, search_text, search_key) "
            """VALUES ($1, 0, 'user', '{"role": "user", "content": "from before"}', """
            "'from before', 'from before')",
            pk,
        )
    finally:
        await conn.close()
    config = HistoryConfig(enabled=True, url=session_history_db, load_entrypoint_plugins=False)
    async with SessionHistory(config) as history:
        loaded = await history.load_session("old")
        assert loaded is not None and [m.content for m in loaded.messages] == ["from before"]
        assert loaded.metadata == {"team": "x"}
        usage = Usage.model_validate({"input_tokens": 2, "details": {"cached": 1}, "cost": 1e16})
        await history.append_messages(
            "old",
            [ChatMessage(role="assistant", content="after", metadata={"n": -0.0})],
            usage=usage,
        )
        loaded = await history.load_session("old")
        assert loaded is not None and loaded.usage is not None
        dumped = loaded.usage.model_dump()
        assert dumped["input_tokens"] == 5 and dumped["details"] == {"cached": 2}
        assert dumped["cost"] == 1e16 and isinstance(dumped["cost"], float)
        assert str(loaded.messages[1].metadata["n"]) == "-0.0"
        assert [h.seq for h in await history.search("before")] == [0]


@POSTGRES
async def test_prune_keeps_a_session_appended_to_after_it_was_chosen(
    session_history: SessionHistory,
    session_history_config: HistoryConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An append that another writer commits between prune's choice and its delete made the
    session the newest: it is kept, with the append (an acknowledged write is never lost)."""
    from session_history._backends.postgres import removal

    for name in ("a", "b"):
        await session_history.create_session(session(name))
    with SyncSessionHistory(session_history_config) as other:
        real = removal.summaries

        def meanwhile(texts: Iterator[str]) -> list[SessionSummary]:
            other.append_messages("a", [text("user", "still here")])  # committed right now
            return real(texts)

        monkeypatch.setattr(removal, "summaries", meanwhile)
        pruned = await session_history.prune(max_sessions=1)
    monkeypatch.undo()
    assert pruned == []
    kept = {s.id: s.message_count for s in await session_history.list_sessions()}
    assert kept == {"a": 1, "b": 0}
