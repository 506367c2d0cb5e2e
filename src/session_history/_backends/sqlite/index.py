"""The search index on SQLite, kept *deferred*: writes never touch it, and it catches up in bulk.

FTS5 writes a new index segment at every commit, so indexing inside each write's transaction
cost about as much as the write itself. Instead (schema ``m004``):

* ``message_text`` is a view: the text each message is found by, made by SQL from its JSON body
  (content, reasoning, tool-call names and arguments). ``messages_fts`` indexes that view as its
  *external content*, so the text is not stored twice.
* ``search_index_state.indexed_to`` is the watermark: every message with an id up to it is
  indexed, and a message above it is not yet. SQLite gives a new row the largest id plus one,
  so ids can come back only after the largest ones were deleted: every deletion lowers the
  watermark to the largest id left (:func:`forgotten`), so a new message that takes an old id is
  above it too, and indexed in its turn.
* A message deleted at or below the watermark leaves its text in ``search_index_removals``
  (FTS5 needs the old text to remove an entry of an external-content table); a deletion of most
  of the index (a large prune) sets ``rebuild`` instead, which is cheaper than removing entry by
  entry.

:func:`catch_up` does it all in one transaction: before every search (so a search sees every
committed message, from any process: the watermark is in the database), after writes once
:data:`THRESHOLD` messages are waiting (looked at every ``connection.UPKEEP_EVERY`` drains, and
after a long one), and when the store closes. A read-only store cannot write:
:func:`index_pending` indexes the waiting messages in a temporary table of its connection
instead, searched beside the main index. Until the catch-up, a deleted message's stale entry is
harmless: every search joins ``messages``, where it no longer is, and an id given again is above
the watermark, so its old entry is removed (from ``search_index_removals``) before the new one
is made.
"""

from __future__ import annotations

import sqlite3

from .connection import atomic

__all__ = [
    "THRESHOLD",
    "catch_up",
    "catch_up_if_due",
    "forgotten",
    "index_pending",
    "rebuild_later",
    "unindex",
]

THRESHOLD = 512
"""Messages waiting for the index after which a write's drain brings it up to date."""

TEXT = """trim(
    coalesce(json_extract(body, '$.content'), '') || ' ' ||
    coalesce(json_extract(body, '$.reasoning'), '') || ' ' ||
    coalesce((SELECT group_concat(
        json_extract(call.value, '$.name') || ' ' ||
        coalesce(json_extract(call.value, '$.arguments'), '{}'), ' ')
        FROM json_each(body, '$.tool_calls') AS call), ''))"""
"""The searchable text of a message, from its body (``_search.search_text`` says the same)."""

PENDING = "SELECT (SELECT coalesce(max(id), 0) FROM messages) - indexed_to FROM search_index_state"


def unindex(conn: sqlite3.Connection, where: str, params: tuple[object, ...]) -> None:
    """Before deleting the messages ``where`` selects: keep the text of those that are indexed,
    so the next catch-up can remove their entries. In the caller's transaction."""
    conn.execute(
        "INSERT OR IGNORE INTO search_index_removals (id, text) SELECT id, text FROM "
        f"message_text WHERE ({where}) AND id <= (SELECT indexed_to FROM search_index_state) "
        "AND NOT (SELECT rebuild FROM search_index_state)",
        params,
    )


def forgotten(conn: sqlite3.Connection) -> None:
    """After deleting messages: lower the watermark to the largest id left, so that an id SQLite
    gives again (the largest plus one) is one the index knows it has not seen."""
    conn.execute(
        "UPDATE search_index_state SET indexed_to = "
        "min(indexed_to, (SELECT coalesce(max(id), 0) FROM messages))"
    )


def rebuild_later(conn: sqlite3.Connection) -> None:
    """Rebuild the whole index at the next catch-up, instead of removing entries one by one:
    for a deletion of most of it. In the caller's transaction."""
    conn.execute("UPDATE search_index_state SET rebuild = 1")
    conn.execute("DELETE FROM search_index_removals")


WAITING = """
    SELECT (SELECT coalesce(max(id), 0) FROM messages) > indexed_to OR rebuild
        OR EXISTS (SELECT 1 FROM search_index_removals)
    FROM search_index_state
"""


def catch_up(conn: sqlite3.Connection) -> None:
    """Bring the index up to date with the messages, in one write transaction (none at all when
    it is, which the usual search finds with one cheap read)."""
    if not conn.execute(WAITING).fetchone()[0]:
        return
    with atomic(conn):
        indexed_to, rebuild = conn.execute(
            "SELECT indexed_to, rebuild FROM search_index_state"
        ).fetchone()
        (removals,) = conn.execute("SELECT count(*) FROM search_index_removals").fetchone()
        if removals and not rebuild:
            (live,) = conn.execute(
                "SELECT count(*) FROM messages WHERE id <= ?", (indexed_to,)
            ).fetchone()
            rebuild = removals > live  # removing most entries costs more than rebuilding
        if rebuild:
            conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('delete-all')")
            indexed_to = 0
        else:
            conn.execute(
                "INSERT INTO messages_fts (messages_fts, rowid, text) "
                "SELECT 'delete', id, text FROM search_index_removals"
            )
        conn.execute("DELETE FROM search_index_removals")
        (top,) = conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()
        if top > indexed_to:
            conn.execute(
                "INSERT INTO messages_fts (rowid, text) SELECT id, text FROM message_text "
                "WHERE id > ? ORDER BY id",
                (indexed_to,),
            )
        conn.execute(
            "UPDATE search_index_state SET indexed_to = ?, rebuild = 0", (max(top, indexed_to),)
        )


def catch_up_if_due(conn: sqlite3.Connection) -> None:
    """After writes: catch up when :data:`THRESHOLD` messages are waiting."""
    (pending,) = conn.execute(PENDING).fetchone()
    if pending >= THRESHOLD:
        catch_up(conn)


def index_pending(conn: sqlite3.Connection) -> None:
    """For a read-only store: index the waiting messages in a temporary table of this
    connection (``temp.pending_fts``), which a search reads beside the main index.

    ``query_only`` (how a read-only store keeps from writing) forbids the temporary database
    too, so it is lifted for these statements alone, which touch nothing but that database.
    """
    conn.execute("PRAGMA query_only = 0")
    try:
        conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.pending_fts USING fts5("
            "text, tokenize = 'unicode61 remove_diacritics 2')"
        )
        conn.execute("DELETE FROM temp.pending_fts")
        conn.execute(
            "INSERT INTO temp.pending_fts (rowid, text) SELECT id, text FROM message_text "
            "WHERE id > (SELECT indexed_to FROM search_index_state)"
        )
    finally:
        conn.execute("PRAGMA query_only = 1")
