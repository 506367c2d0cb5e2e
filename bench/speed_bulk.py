"""Issue 12's bulk rows: prune against the same DELETEs on a bare schema, and import's rate.

Both start from one generated export (``common.export_lines``: sessions of 40 messages of 45
words from a Zipf vocabulary, every fourth an assistant message with a tool call), so prune and
import see the data the search benchmark sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import time
from pathlib import Path

from common import Row, interleave, ratios
from speed_sqlite import config

from session_history import SessionHistory

BARE_SCHEMA = """
CREATE TABLE sessions (
    pk INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL UNIQUE,
    agent_name TEXT NOT NULL,
    model TEXT NOT NULL,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX sessions_by_updated ON sessions (updated_at DESC, session_id DESC);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    session_pk INTEGER NOT NULL REFERENCES sessions (pk) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (session_pk, seq)
);
"""
"""The peer of the prune row: the store's two tables as they would be without the search index
and the summary columns. Messages go by the foreign key's ON DELETE CASCADE, as the store's do."""

BARE_PRUNE = (
    "DELETE FROM sessions WHERE pk IN (SELECT pk FROM sessions "
    "ORDER BY updated_at DESC, session_id DESC LIMIT -1 OFFSET ?)"
)
"""The store's own selection of what to prune (all but the newest), as one DELETE."""


async def import_file(path: Path, export: Path) -> tuple[float, int]:
    """Import ``export`` into a new store at ``path``: (seconds, sessions added). Opening the
    store is not timed; reading the file is (the CLI streams it the same way)."""
    async with SessionHistory(config(path)) as history:
        with export.open(encoding="utf-8") as lines:
            start = time.perf_counter()
            report = await history.import_jsonl(lines)
            seconds = time.perf_counter() - start
    if report.errors:
        raise RuntimeError(f"the generated export did not import: {report.errors[:3]}")
    return seconds, report.added


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def row_import(directory: Path, export: Path, sessions: int, messages: int, rounds: int) -> Row:
    """Row 6: messages per second imported into an empty database, a fresh one each round."""
    rates: list[float] = []
    for number in range(1, rounds + 1):
        path = directory / "row6.db"
        seconds, added = asyncio.run(import_file(path, export))
        remove_database(path)
        assert added == sessions, (added, sessions)
        rates.append(messages / seconds)
        print(f"    round {number}: {rates[-1]:,.0f} msgs/s ({seconds:.2f} s)")
    return Row.at_least(
        f"import into an empty database ({sessions:,} sessions x {messages // sessions} messages)",
        "~20,000 msgs/s",
        50_000,
        rates,
        unit="msgs/s",
    )


def build_bare(path: Path, source: Path) -> None:
    """The bare schema at ``path``, holding the very rows of the store at ``source``."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(BARE_SCHEMA)
        conn.execute("ATTACH DATABASE ? AS source", (str(source),))
        with conn:
            conn.execute(
                "INSERT INTO sessions SELECT pk, session_id, agent_name, model, started_at, "
                "updated_at FROM source.sessions"
            )
            conn.execute(
                "INSERT INTO messages SELECT id, session_pk, seq, role, body FROM source.messages"
            )
        conn.execute("DETACH DATABASE source")


def fresh_copy(source: Path, name: str) -> Path:
    """A copy of a closed database (its WAL checkpointed away), to be pruned once."""
    if Path(f"{source}-wal").exists():
        raise RuntimeError(f"{source} was not closed cleanly: its WAL is still there")
    copy = source.with_name(name)
    shutil.copyfile(source, copy)
    return copy


def prune_ours(source: Path, keep: int, expected: int) -> float:
    """Milliseconds ``history.prune(max_sessions=keep)`` takes on a fresh copy of ``source``."""
    copy = fresh_copy(source, "row5-ours.db")

    async def prune() -> float:
        async with SessionHistory(config(copy)) as history:
            start = time.perf_counter()
            pruned = await history.prune(max_sessions=keep)
            ms = (time.perf_counter() - start) * 1000
            assert len(pruned) == expected and await history.session_count() == keep
        return ms

    try:
        return asyncio.run(prune())
    finally:
        remove_database(copy)


def prune_bare(source: Path, keep: int, expected: int, left_messages: int) -> float:
    """Milliseconds the same DELETE takes on a fresh copy of the bare schema, in one
    transaction, with the settings the store uses (WAL, synchronous=NORMAL, foreign keys)."""
    copy = fresh_copy(source, "row5-bare.db")
    try:
        with contextlib.closing(sqlite3.connect(copy, isolation_level=None)) as conn:
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            start = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            deleted = conn.execute(BARE_PRUNE, (keep,)).rowcount
            conn.execute("COMMIT")
            ms = (time.perf_counter() - start) * 1000
            (left,) = conn.execute("SELECT count(*) FROM messages").fetchone()
            assert deleted == expected and left == left_messages, (deleted, left)
        return ms
    finally:
        remove_database(copy)


def row_prune(
    directory: Path, export: Path, sessions: int, per_session: int, keep: int, rounds: int
) -> Row:
    """Row 5: prune all but ``keep`` sessions, against the same DELETE on the bare schema,
    each round on fresh copies of the same data (built once, by importing the export)."""
    source = directory / "row5-source.db"
    asyncio.run(import_file(source, export))
    bare = directory / "row5-bare-source.db"
    build_bare(bare, source)
    expected = sessions - keep
    try:
        figures = interleave(
            {
                "session-history": lambda: prune_ours(source, keep, expected),
                "bare two tables": lambda: prune_bare(bare, keep, expected, keep * per_session),
            },
            rounds,
            unit="ms",
        )
    finally:
        remove_database(source)
        remove_database(bare)
    return Row.at_most(
        f"prune {sessions:,} sessions of {per_session} messages to {keep:,}: vs the same "
        "DELETEs on a bare two-table schema (FK ON DELETE CASCADE): times slower",
        "8-15x slower",
        3.0,
        ratios(figures["session-history"], figures["bare two tables"]),
    )
