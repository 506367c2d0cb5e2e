"""SQLite's deferred search index: writes never index, and yet every search finds every committed
message, in this process or another; deletes and prunes leave nothing behind (index.py)."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from session_history import HistoryConfig, SessionHistory, SyncSessionHistory
from session_history._backends.sqlite import index
from session_history._backends.sqlite.connection import UPKEEP_EVERY
from session_history._backends.sqlite.schema import MIGRATIONS_TABLE, migrations

from .helpers import session, text, turn

pytestmark = pytest.mark.session_history(backends=["sqlite"])  # SQLite's own index


def indexed_ids(path: Path) -> list[int]:
    """The messages the index holds. Checked first: every token it holds is one that a fresh
    index of those messages' current text would hold, at the same place, and no other."""
    with closing(sqlite3.connect(path)) as db:
        db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
        db.execute(
            "CREATE VIRTUAL TABLE temp.fresh USING fts5(text, tokenize = "
            "'unicode61 remove_diacritics 2')"
        )
        db.execute("INSERT INTO temp.fresh (rowid, text) SELECT id, text FROM message_text")
        for name, schema, table in (("held", "main", "messages_fts"), ("made", "temp", "fresh")):
            db.execute(
                f"CREATE VIRTUAL TABLE temp.{name} USING fts5vocab({schema}, {table}, instance)"
            )
        held = db.execute("SELECT term, doc, col, offset FROM temp.held ORDER BY 1, 2, 3, 4")
        made = db.execute("SELECT term, doc, col, offset FROM temp.made ORDER BY 1, 2, 3, 4")
        held_rows = held.fetchall()
        indexed = sorted({doc for _, doc, _, _ in held_rows})
        fresh = [row for row in made.fetchall() if row[1] in set(indexed)]
        assert held_rows == fresh, "the index holds entries that are not the messages' text"
        return indexed


def stored_ids(path: Path) -> list[int]:
    with closing(sqlite3.connect(path)) as db:
        return [row[0] for row in db.execute("SELECT id FROM messages ORDER BY id")]


def file_state(path: Path) -> tuple[bytes, int]:
    """The file's bytes and the index's watermark."""
    with closing(sqlite3.connect(path)) as db:
        (indexed_to,) = db.execute("SELECT indexed_to FROM search_index_state").fetchone()
    return path.read_bytes(), int(indexed_to)


async def test_writes_leave_the_index_alone_until_a_search(
    session_history: SessionHistory, session_history_db: Path
) -> None:
    await session_history.create_session(session("s", messages=turn(0)))
    await session_history.append_messages("s", [text("user", "zebra crossing")])
    assert indexed_ids(session_history_db) == []  # deferred: nothing indexed yet
    hits = await session_history.search("zebra")
    assert [(h.session_id, h.seq) for h in hits] == [("s", 4)]
    assert indexed_ids(session_history_db) == stored_ids(session_history_db)


async def test_the_index_catches_up_after_enough_writes_and_at_close(
    session_history_config: HistoryConfig,
) -> None:
    path = session_history_config.db_path
    async with SessionHistory(session_history_config) as history:
        await history.create_session(session("s"))
        for i in range(index.THRESHOLD - 1):
            await history.append_messages("s", [text("user", f"m{i}")])
        assert indexed_ids(path) == []
        # Looked at every UPKEEP_EVERY writes: caught up within that many after the threshold.
        for i in range(UPKEEP_EVERY):
            await history.append_messages("s", [text("user", f"more {i}")])
        # The upkeep runs on the database's thread after the write is acknowledged: a read,
        # queued behind it, returns once it is done.
        await history.session_count()
        caught_up = indexed_ids(path)
        assert index.THRESHOLD <= len(caught_up) < index.THRESHOLD + UPKEEP_EVERY
    assert indexed_ids(path) == stored_ids(path)  # and at close


async def test_a_close_that_cannot_catch_up_still_closes(
    session_history_config: HistoryConfig,
) -> None:
    """Another process holding the write lock keeps close() from indexing; close() still closes
    quietly (every write is committed), and the next search catches up."""
    path = session_history_config.db_path
    config = session_history_config.model_copy(update={"busy_timeout": timedelta(seconds=0.05)})
    history = SessionHistory(config)
    await history.create_session(session("s", messages=[text("user", "locked out")]))
    with closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        await history.close()
        other.execute("ROLLBACK")
    assert indexed_ids(path) == []
    async with SessionHistory(config) as again:
        assert [h.session_id for h in await again.search("locked")] == ["s"]


def _append_and_stay_open(path: str, ready: object, done: object) -> None:
    """Another process: appends, and keeps its store open (nothing indexed) until told."""
    config = HistoryConfig(enabled=True, db_path=path, load_entrypoint_plugins=False)
    with SyncSessionHistory(config) as history:
        history.append_messages("s", [text("user", "from the other process")])
        ready.set()  # type: ignore[attr-defined]
        done.wait(60)  # type: ignore[attr-defined]


async def test_a_search_right_after_an_append_finds_it_in_this_and_another_process(
    session_history: SessionHistory, session_history_db: Path
) -> None:
    await session_history.create_session(session("s"))
    await session_history.append_messages("s", [text("user", "written here")])
    assert [h.seq for h in await session_history.search("written")] == [0]
    context = multiprocessing.get_context("spawn")
    ready, done = context.Event(), context.Event()
    other = context.Process(
        target=_append_and_stay_open, args=(str(session_history_db), ready, done)
    )
    other.start()
    try:
        assert await asyncio.to_thread(ready.wait, 60)
        hits = await session_history.search("other process")
        assert [(h.session_id, h.seq) for h in hits] == [("s", 1)]
    finally:
        done.set()
        other.join(60)
    assert other.exitcode == 0


async def test_deletes_pops_saves_and_prunes_leave_no_entry_behind(
    session_history: SessionHistory, session_history_db: Path
) -> None:
    for i in range(6):
        await session_history.create_session(session(f"s{i}", messages=turn(i)))
    await session_history.search("answer")  # everything indexed: the removals path
    await session_history.delete_session("s0")
    await session_history.pop_messages("s1", 2)
    await session_history.save_session(session("s2", messages=[text("user", "rewritten")]))
    await session_history.append_messages("s3", [text("user", "unindexed, then deleted")])
    await session_history.delete_session("s3")
    assert await session_history.search("answer 0") == []
    assert indexed_ids(session_history_db) == stored_ids(session_history_db)
    # A prune of most of the index: rebuilt from what stays rather than entry by entry.
    assert len(await session_history.prune(max_sessions=1)) == 3
    assert [h.session_id for h in await session_history.search("rewritten")] == ["s2"]
    assert await session_history.search("question") == []
    assert indexed_ids(session_history_db) == stored_ids(session_history_db)
    assert len(stored_ids(session_history_db)) == 1


async def test_an_id_given_again_is_indexed_anew(
    session_history: SessionHistory, session_history_db: Path
) -> None:
    """SQLite gives a new message the largest id plus one, so deleting the last messages lets
    their ids come back: the new message is indexed, its predecessor's entry removed."""
    await session_history.create_session(session("s", messages=turn(0)))
    await session_history.search("answer")
    ids = stored_ids(session_history_db)
    await session_history.pop_messages("s", 2)  # the largest ids, indexed
    await session_history.append_messages("s", [text("user", "new words"), text("user", "more")])
    assert stored_ids(session_history_db) == ids  # the same ids, now other messages
    assert [h.seq for h in await session_history.search("new")] == [2]
    assert await session_history.search("answer") == []  # the old entries are gone
    assert indexed_ids(session_history_db) == ids


async def test_a_read_only_store_finds_unindexed_messages_and_changes_nothing(
    session_history: SessionHistory, session_history_db: Path
) -> None:
    await session_history.create_session(session("s", messages=[text("user", "indexed one")]))
    await session_history.search("indexed")
    await session_history.append_messages("s", [text("user", "pending one")])
    before = file_state(session_history_db)
    config = HistoryConfig(
        enabled=True, db_path=session_history_db, read_only=True, load_entrypoint_plugins=False
    )
    async with SessionHistory(config) as reader:
        assert [h.seq for h in await reader.search("one")] == [0, 1]
        assert [h.snippet for h in await reader.search("pending")] == ["[pending] one"]
    assert file_state(session_history_db) == before


async def test_a_read_only_store_does_not_find_a_new_message_by_its_predecessors_words(
    session_history: SessionHistory, session_history_db: Path
) -> None:
    """The last message popped and a new one appended (taking its id) while the writer is
    open: the index still holds the old entry, which a read-only store cannot remove."""
    await session_history.create_session(
        session("s", messages=[text("user", "hello"), text("user", "zebra stripes")])
    )
    await session_history.search("hello")
    await session_history.pop_messages("s", 1)
    await session_history.append_messages("s", [text("user", "giraffe neck")])
    config = HistoryConfig(
        enabled=True, db_path=session_history_db, read_only=True, load_entrypoint_plugins=False
    )
    async with SessionHistory(config) as reader:
        assert await reader.search("zebra") == []
        assert [h.snippet for h in await reader.search("giraffe")] == ["[giraffe] neck"]


def test_a_database_from_before_the_deferred_index_keeps_every_message_and_id(
    tmp_path: Path,
) -> None:
    """Written as the previous version left it (an index holding its own copy of the text, in
    step with every write): migrated, every message keeps its id, and search finds them."""
    path = tmp_path / "v3.db"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(f"CREATE TABLE {MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at TEXT)")
        for step in migrations:
            if step.name >= "m004":
                break
            step.apply(db)
            db.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES (?, '2026-01-01')", (step.name,))
        db.execute(
            "INSERT INTO sessions (session_id, agent_name, model, started_at, updated_at, "
            "message_count) VALUES ('old', 'a', 'm', '2026-01-01', '2026-01-01', 2)"
        )
        for id_, seq, words in ((7, 0, "ancient scroll"), (9, 1, "dusty tome")):
            db.execute(
                "INSERT INTO messages (id, session_pk, seq, role, body) "
                "VALUES (?, 1, ?, 'user', ?)",
                (id_, seq, f'{{"role":"user","content":"{words}"}}'),
            )
            db.execute("INSERT INTO messages_fts (rowid, text) VALUES (?, ?)", (id_, words))
    config = HistoryConfig(enabled=True, db_path=path, load_entrypoint_plugins=False)
    with SyncSessionHistory(config) as history:
        assert [h.snippet for h in history.search("dusty")] == ["[dusty] tome"]
        history.append_messages("old", [text("user", "fresh page")])
        assert [h.seq for h in history.search("fresh")] == [2]
    assert stored_ids(path)[:2] == [7, 9] and stored_ids(path)[2] > 9
    assert indexed_ids(path) == stored_ids(path)
