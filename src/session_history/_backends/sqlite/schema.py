"""The SQLite schema, as the ordered migrations that build it.

Layout (after every migration):

``sessions``
    one row per session with the summary columns listing reads (counts, usage, timestamps,
    metadata), kept up to date by each write, so listing never touches a message.
``messages``
    one row per message: ``(session_pk, seq)`` is the explicit order within a session, ``body``
    the message as JSON. Appending inserts rows; it never rewrites what is stored.
``messages_fts``, ``message_text``, ``search_index_state``, ``search_index_removals``
    the search index: an FTS5 index of each message's searchable text (content, reasoning,
    tool-call names and arguments; the view ``message_text`` makes it from the body), rowid =
    ``messages.id``, kept *deferred*: see ``index.py`` for when it is brought up to date.
``_session_history_migrations``
    the names of the applied migrations (see :mod:`session_history._migrations`).

Timestamps are stored as fixed-width UTC text (``2026-01-02T03:04:05.000006Z``), so comparing the
text orders them in time and a person reading the file with ``sqlite3`` sees dates.
"""

from __future__ import annotations

import sqlite3

from ..._errors import DatabaseError, NotADatabaseError
from ..._migrations import Migration, Migrations
from ..._models import ChatMessage, utc_now
from ..._search import search_text
from ..shared import format_ts, migrate
from ..tree import new_entry_id
from .connection import SQLiteConnection, atomic
from .index import TEXT
from .reference import REFERENCE_TABLE, import_reference_table, reimport_reference_table

__all__ = ["MIGRATIONS_TABLE", "migrations", "upgrade"]

MIGRATIONS_TABLE = "_session_history_migrations"

migrations: Migrations[sqlite3.Connection, None] = Migrations()


@migrations
def m001_initial(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE sessions (
            pk INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL UNIQUE,
            agent_name TEXT NOT NULL,
            model TEXT NOT NULL,
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            ended_at TEXT,
            message_count INTEGER NOT NULL DEFAULT 0,
            turn_count INTEGER NOT NULL DEFAULT 0,
            tool_call_count INTEGER NOT NULL DEFAULT 0,
            usage TEXT,
            metadata TEXT NOT NULL DEFAULT '{}',
            -- The SessionSummary as JSON, kept by SQLite itself: listing fetches one string per
            -- session and validates them all in one pydantic call. Building it at read time
            -- instead would take most of a listing's time.
            summary TEXT GENERATED ALWAYS AS (json_object(
                'id', session_id, 'agent_name', agent_name, 'model', model,
                'message_count', message_count, 'turn_count', turn_count,
                'tool_call_count', tool_call_count, 'started_at', started_at,
                'updated_at', updated_at, 'ended_at', ended_at,
                'usage', json(usage), 'metadata', json(metadata))) STORED
        )
        """
    )
    # Listing order is (updated_at DESC, session_id DESC); these indexes serve it with and
    # without the agent filter, and make keyset paging a range scan.
    conn.execute("CREATE INDEX sessions_by_updated ON sessions (updated_at DESC, session_id DESC)")
    conn.execute(
        "CREATE INDEX sessions_by_agent ON sessions (agent_name, updated_at DESC, session_id DESC)"
    )
    conn.execute(
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            session_pk INTEGER NOT NULL REFERENCES sessions (pk) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            body TEXT NOT NULL,
            UNIQUE (session_pk, seq)
        )
        """
    )


@migrations
def m002_import_reference_table(conn: sqlite3.Connection) -> None:
    import_reference_table(conn)


@migrations
def m003_full_text_search(conn: sqlite3.Connection) -> None:
    """An FTS5 index of every message, built here for the rows already there, holding its own
    copy of the text :func:`~session_history._search.search_text` makes of each message
    (``remove_diacritics`` lets "cafe" find "café"). The store of that version kept it in step
    in each write's transaction. ``m004`` drops it for the deferred index.
    """
    conn.execute(
        "CREATE VIRTUAL TABLE messages_fts USING fts5("
        "text, tokenize = 'unicode61 remove_diacritics 2')"
    )
    rows = conn.execute("SELECT id, body FROM messages").fetchall()
    conn.executemany(
        "INSERT INTO messages_fts (rowid, text) VALUES (?, ?)",
        ((id_, search_text(ChatMessage.model_validate_json(body))) for id_, body in rows),
    )


@migrations
def m004_deferred_search_index(conn: sqlite3.Connection) -> None:
    """The search index kept deferred (see ``index.py``): the searchable text a view made from
    each body, an external-content index of that view (no second copy of the text), and the
    watermark up to which it is built. The index is built by the first catch-up."""
    conn.execute("DROP TABLE messages_fts")
    conn.execute(
        f"CREATE VIEW message_text (id, session_pk, seq, text) AS "
        f"SELECT id, session_pk, seq, {TEXT} FROM messages"
    )
    conn.execute(
        "CREATE VIRTUAL TABLE messages_fts USING fts5(text, content = 'message_text', "
        "content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2')"
    )
    conn.execute(
        "CREATE TABLE search_index_state (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), "
        "indexed_to INTEGER NOT NULL, rebuild INTEGER NOT NULL)"
    )
    conn.execute("INSERT INTO search_index_state VALUES (1, 0, 0)")
    conn.execute("CREATE TABLE search_index_removals (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")


# The session row after m005: SessionSummary's JSON, kept by SQLite itself (see m001).
SESSIONS_TABLE = """
    CREATE TABLE sessions (
        pk INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL UNIQUE,
        agent_name TEXT NOT NULL,
        model TEXT NOT NULL,
        started_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        ended_at TEXT,
        message_count INTEGER NOT NULL DEFAULT 0,
        turn_count INTEGER NOT NULL DEFAULT 0,
        tool_call_count INTEGER NOT NULL DEFAULT 0,
        usage TEXT,
        metadata TEXT NOT NULL DEFAULT '{}',
        scope TEXT,
        expires_at TEXT,
        revision INTEGER NOT NULL DEFAULT 1,
        head_line INTEGER,
        grow_line INTEGER,
        head_entry TEXT,
        forked_from TEXT,
        forked_at TEXT,
        summary TEXT GENERATED ALWAYS AS (json_object(
            'id', session_id, 'agent_name', agent_name, 'model', model,
            'message_count', message_count, 'turn_count', turn_count,
            'tool_call_count', tool_call_count, 'started_at', started_at,
            'updated_at', updated_at, 'ended_at', ended_at,
            'usage', json(usage), 'metadata', json(metadata), 'scope', scope,
            'expires_at', expires_at, 'revision', revision, 'head', head_entry,
            'forked_from', forked_from, 'forked_at', forked_at)) STORED
    )
"""
SESSION_COLUMNS = (
    "pk, session_id, agent_name, model, started_at, updated_at, ended_at, message_count, "
    "turn_count, tool_call_count, usage, metadata"
)


@migrations
def m005_tree(conn: sqlite3.Connection) -> None:
    """Conversations as trees (see ``_backends/tree.py``): every message an entry with an id on
    a line, sessions with a head, branches, forks, a scope, an expiry, a revision and state.

    Each session becomes a one-line tree: its line's key is the session's, its entries keep
    their row ids (so the search index stays valid) and get a UUIDv7 each, added to their
    bodies. ``sessions`` and
    ``messages`` are rebuilt, as SQLite changes neither a generated column nor a constraint.
    """
    conn.create_function("new_entry_id", 0, new_entry_id, deterministic=False)
    conn.execute("DROP VIEW message_text")
    conn.execute("ALTER TABLE sessions RENAME TO old_sessions")
    conn.execute(SESSIONS_TABLE)
    conn.execute(
        f"INSERT INTO sessions ({SESSION_COLUMNS}, head_line, grow_line) "
        f"SELECT {SESSION_COLUMNS}, iif(message_count > 0, pk, NULL), "
        "iif(message_count > 0, pk, NULL) FROM old_sessions ORDER BY pk"
    )
    conn.execute(
        """
        CREATE TABLE lines (
            pk INTEGER PRIMARY KEY,
            session_pk INTEGER NOT NULL REFERENCES sessions (pk) ON DELETE CASCADE,
            root INTEGER NOT NULL,
            parent_line INTEGER REFERENCES lines (pk),
            start INTEGER NOT NULL
        )
        """
    )
    conn.execute(
        "INSERT INTO lines (pk, session_pk, root, parent_line, start) "
        "SELECT pk, pk, pk, NULL, 0 FROM sessions WHERE head_line IS NOT NULL"
    )
    conn.execute(
        """
        CREATE TABLE new_messages (
            id INTEGER PRIMARY KEY,
            session_pk INTEGER NOT NULL,
            line_pk INTEGER NOT NULL REFERENCES lines (pk) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            entry_id TEXT NOT NULL,
            role TEXT NOT NULL,
            body TEXT NOT NULL,
            UNIQUE (line_pk, seq),
            UNIQUE (entry_id, session_pk)
        )
        """
    )
    conn.execute(
        "INSERT INTO new_messages (id, session_pk, line_pk, seq, entry_id, role, body) "
        "SELECT id, session_pk, session_pk, seq, new_entry_id(), role, body FROM messages "
        "ORDER BY id"
    )
    # Each body gets its entry id as its last field, as pydantic writes it: spliced into the
    # text, so the rest of the body stays byte for byte as written.
    conn.execute(
        "UPDATE new_messages SET body = "
        "substr(body, 1, length(body) - 1) || ',\"entry_id\":' || json_quote(entry_id) || '}'"
    )
    conn.execute("DROP TABLE messages")
    conn.execute("DROP TABLE old_sessions")
    conn.execute("ALTER TABLE new_messages RENAME TO messages")
    conn.execute(
        "UPDATE sessions SET head_entry = (SELECT entry_id FROM messages "
        "WHERE line_pk = sessions.head_line AND seq = sessions.message_count - 1)"
    )
    conn.execute(
        f"CREATE VIEW message_text (id, session_pk, line_pk, seq, text) AS "
        f"SELECT id, session_pk, line_pk, seq, {TEXT} FROM messages"
    )
    conn.execute("CREATE INDEX sessions_by_updated ON sessions (updated_at DESC, session_id DESC)")
    conn.execute(
        "CREATE INDEX sessions_by_agent ON sessions (agent_name, updated_at DESC, session_id DESC)"
    )
    conn.execute(
        "CREATE INDEX sessions_by_scope ON sessions (scope, updated_at DESC, session_id DESC) "
        "WHERE scope IS NOT NULL"
    )
    conn.execute(
        "CREATE INDEX sessions_by_head ON sessions (head_line) WHERE head_line IS NOT NULL"
    )
    conn.execute(
        "CREATE INDEX sessions_by_expiry ON sessions (expires_at) WHERE expires_at IS NOT NULL"
    )
    conn.execute(
        "CREATE INDEX sessions_by_source ON sessions (forked_from) WHERE forked_from IS NOT NULL"
    )
    conn.execute("CREATE INDEX lines_by_root ON lines (root)")
    conn.execute("CREATE INDEX lines_by_session ON lines (session_pk)")
    conn.execute(
        """
        CREATE TABLE branches (
            session_pk INTEGER NOT NULL REFERENCES sessions (pk) ON DELETE CASCADE,
            line_pk INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            entry_id TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (session_pk, line_pk, seq)
        ) WITHOUT ROWID
        """
    )
    conn.execute("CREATE INDEX branches_by_line ON branches (line_pk)")
    conn.execute(
        """
        CREATE TABLE session_state (
            session_pk INTEGER NOT NULL REFERENCES sessions (pk) ON DELETE CASCADE,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (session_pk, key)
        ) WITHOUT ROWID
        """
    )


async def upgrade(connection: SQLiteConnection) -> None:
    """Check that the file is ours and not newer than this code, apply the outstanding
    migrations, import rows the reference design's program wrote since, then set how the file is
    kept (WAL). A foreign or newer file is left untouched; so is every file opened read-only."""
    location, read_only = connection.location, connection.read_only
    applied, tables = await connection.read(_inspect, location, connection.busy_timeout_ms)
    await migrate(
        migrations,
        applied,
        lambda step: connection.write(_apply, step),
        location=location,
        errors=(_StepFailed, ValueError, TypeError),
        read_only=read_only,
    )
    if REFERENCE_TABLE in tables and m002_import_reference_table.__name__ in applied:
        # Migrated before, and the reference's program has since recreated its table.
        if read_only:
            raise DatabaseError(
                f"{location} has a table {REFERENCE_TABLE!r} again, written by the reference "
                "design's program after the database was migrated; a read-only history does "
                "not import it. Open the database for writing once (session-history --db "
                f"{location} upgrade) to import those sessions.",
                path=location,
            )
        await connection.write(_reimport)
    if not read_only:
        await connection.maintain(_keep_file)


def _inspect(
    conn: sqlite3.Connection, location: str, busy_timeout_ms: int
) -> tuple[set[str], set[str]]:
    """``(applied migrations, tables)``; refuses a file that holds no database of ours. Only
    reads, so a foreign file is untouched."""
    # First of all: from here on, even a migration waits for another process's write.
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    tables = {
        name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if tables and not tables & {MIGRATIONS_TABLE, REFERENCE_TABLE}:
        shown = sorted(tables)
        more = f" and {len(shown) - 5} more" if len(shown) > 5 else ""
        raise NotADatabaseError(
            f"{location} is an SQLite database of another program (tables: "
            f"{', '.join(shown[:5])}{more}); give session-history a file of its own. The file "
            "was not changed.",
            path=location,
        )
    return (_applied(conn) if MIGRATIONS_TABLE in tables else set()), tables


def _applied(conn: sqlite3.Connection) -> set[str]:
    return {name for (name,) in conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}


class _StepFailed(Exception):
    """A step's own SQL failed. Raised as this, not as the driver's error, which the worker
    thread would turn into a plain DatabaseError before ``migrate`` could name the step."""


def _apply(conn: sqlite3.Connection, step: Migration[sqlite3.Connection, None]) -> None:
    """One step, in one transaction with its record, unless another process applied it while
    this one waited for the write lock."""
    with atomic(conn):
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        if step.name in _applied(conn):
            return
        try:
            step.apply(conn)
        except sqlite3.Error as exc:
            raise _StepFailed(str(exc)) from exc
        conn.execute(
            f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)",
            (step.name, format_ts(utc_now())),
        )


def _reimport(conn: sqlite3.Connection) -> None:
    with atomic(conn):
        reimport_reference_table(conn)


def _keep_file(conn: sqlite3.Connection) -> None:
    # Only now, with the schema known to be ours and current, change how the file is kept.
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        # WAL lets readers work while a writer commits; it is a property of the file.
        conn.execute("PRAGMA journal_mode = WAL")
    # In WAL mode NORMAL is durable against application crashes; only an OS crash or power
    # loss can take back the last commits, and never corrupts the file.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
