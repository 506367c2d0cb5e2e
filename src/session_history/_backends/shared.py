"""What every backend does the same way, written once.

The backends differ in their driver (a ``sqlite3`` connection on a worker thread, an asyncpg pool
on an event loop) and their SQL dialect; the rules do not. Here are the rules, each rendered for
either placeholder style where it is SQL:

* :class:`Params`: bound parameters in the dialect's style (``?`` or ``$1``), never formatted in;
* :func:`list_sql`: the listing query (filters, keyset cursor, order, paging);
* :func:`prune_rules`: which sessions pruning removes, in which order, for which reason;
* :func:`same_fields`: whether an imported session has the stored one's fields;
* :func:`message_rows`: a message as it is stored (role, JSON body);
* :func:`migrate`: the migration runner over the named steps;
* :func:`store_closed` and :func:`read_only_refusal`: the errors of a store used while not
  open, and of a write on one opened read-only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar

from .._codec import message_body, with_messages
from .._errors import DatabaseError, MigrationError, StoreClosedError
from .._migrations import Migration, Migrations
from .._models import ChatMessage, ExportedSession
from .base import ListQuery

__all__ = [
    "DollarParams",
    "MessageRow",
    "Params",
    "PruneRule",
    "QmarkParams",
    "list_sql",
    "message_rows",
    "migrate",
    "now_ts",
    "prune_rules",
    "read_only_refusal",
    "same_fields",
    "store_closed",
]

C = TypeVar("C")
R = TypeVar("R")

ORDER = "ORDER BY updated_at DESC, session_id DESC"
"""Listing order, everywhere: newest update first, ties broken by session id."""


class Params:
    """The bound parameters of one statement: ``p(value)`` stores a value and returns its
    placeholder. Subclasses say how placeholders look and how values are given to the driver."""

    no_limit: object = None
    """What ``LIMIT`` takes for "no limit"."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def __call__(self, value: object) -> str:
        self.values.append(self.convert(value))
        return self.mark(len(self.values))

    def limit(self, value: int | None) -> str:
        return self(self.no_limit if value is None else value)

    def convert(self, value: object) -> object:
        return value

    def mark(self, number: int) -> str:
        raise NotImplementedError


class QmarkParams(Params):
    """SQLite's ``?`` placeholders; times as the fixed-width UTC text SQLite stores."""

    no_limit = -1

    def convert(self, value: object) -> object:
        return format_ts(value) if isinstance(value, datetime) else value

    def mark(self, number: int) -> str:
        return "?"


class DollarParams(Params):
    """PostgreSQL's ``$n`` placeholders; naive times taken to be UTC, as everywhere else."""

    def convert(self, value: object) -> object:
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    def mark(self, number: int) -> str:
        return f"${number}"


def now_ts() -> str:
    """The current time as :func:`format_ts` writes it (``isoformat`` is several times faster
    than ``strftime``, and writes the same fixed-width text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def format_ts(value: datetime) -> str:
    """Fixed-width UTC text: sorts as it reads. A naive value is taken to be UTC already."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def list_sql(query: ListQuery, *, select: str, table: str, p: Params) -> str:
    """The listing query: ``select`` from ``table``, filtered, in listing order, paged."""
    where: list[str] = []
    if query.agent_name is not None:
        where.append(f"agent_name = {p(query.agent_name)}")
    if query.model is not None:
        where.append(f"model = {p(query.model)}")
    if query.updated_since is not None:
        where.append(f"updated_at >= {p(query.updated_since)}")
    if query.updated_until is not None:
        where.append(f"updated_at < {p(query.updated_until)}")
    if query.after is not None:
        when, session_id = query.after
        where.append(f"(updated_at, session_id) < ({p(when)}, {p(session_id)})")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return (
        f"SELECT {select} FROM {table} {clause} {ORDER} "
        f"LIMIT {p.limit(query.limit)} OFFSET {p(query.offset)}"
    )


@dataclass(frozen=True)
class PruneRule:
    """One reason to prune: ``selection`` follows ``FROM sessions`` and picks the sessions."""

    reason: Literal["max_sessions", "max_age"]
    selection: str
    params: list[object]


def prune_rules(
    max_sessions: int | None, older_than: datetime | None, params: Callable[[], Params]
) -> list[PruneRule]:
    """The rules pruning applies, in order: by age first, then all but the newest
    ``max_sessions`` of what is left (so a session is reported under the first rule that
    removes it)."""
    rules: list[PruneRule] = []
    if older_than is not None:
        p = params()
        rules.append(PruneRule("max_age", f"WHERE updated_at < {p(older_than)}", p.values))
    if max_sessions is not None:
        p = params()
        selection = f"{ORDER} LIMIT {p.limit(None)} OFFSET {p(max_sessions)}"
        rules.append(PruneRule("max_sessions", selection, p.values))
    return rules


@dataclass(frozen=True, slots=True)
class MessageRow:
    """A message as it is stored: made before the hand-off to the database, so the database's
    thread or loop does no encoding."""

    role: str
    body: str


def message_rows(messages: Sequence[ChatMessage]) -> list[MessageRow]:
    return [MessageRow(m.role.value, message_body(m)) for m in messages]


def same_fields(stored_head: str, stored_count: int, session: ExportedSession) -> bool:
    """Whether an imported ``session`` has the stored session's fields and message count
    (compared as models, so equal values written differently match). ``stored_head`` is the
    stored session's export JSON without messages. The bodies are compared next (as text, each
    is stored as written), only if this cheaper test passed."""
    if stored_count != len(session.messages):
        return False
    stored = ExportedSession.model_validate_json(with_messages(stored_head, ()))
    # A line without times leaves them to the store, which set them on the first import: they
    # are not a difference (or each import of the same hand-written file would replace it).
    update: dict[str, object] = {"messages": []}
    for field in ("started_at", "updated_at"):
        if getattr(session, field) is None:
            update[field] = getattr(stored, field)
    return stored == session.model_copy(update=update)


async def migrate(
    migrations: Migrations[C, R],
    applied: Collection[str],
    apply: Callable[[Migration[C, R]], Awaitable[None]],
    *,
    location: str,
    errors: tuple[type[BaseException], ...],
    read_only: bool = False,
) -> None:
    """Apply the steps not yet ``applied``, in order, refusing a database newer than this code.

    ``apply`` runs one step in one transaction together with its record, after checking, under
    the backend's write lock, that no other process applied it meanwhile; ``errors`` are what
    it raises when the step failed, each reported as a MigrationError naming the step. A
    read-only store applies nothing: it refuses a database that is not up to date, or not there
    at all.
    """
    migrations.check_not_newer(applied, path=location)
    pending = migrations.pending(applied)
    if read_only and pending and not applied:
        raise DatabaseError(
            f"{location} holds no session-history database yet, and a read-only history does "
            "not create one; record sessions there first, or check the path or URL.",
            path=location,
        )
    if read_only and pending:
        raise DatabaseError(
            f"{location} was written by an older session-history and needs upgrading "
            f"(pending: {', '.join(step.name for step in pending)}), which a read-only history "
            f"does not do; open it for writing once (session-history --db {location} upgrade, "
            "or any store that is not read-only) and it is upgraded in place.",
            path=location,
        )
    for step in pending:
        try:
            await apply(step)
        except errors as exc:
            raise MigrationError(
                f"could not upgrade {location} ({step.name}: {exc}); that step was rolled "
                "back and the data is as it was. Report this with the message.",
                path=location,
            ) from exc


def read_only_refusal(location: str) -> DatabaseError:
    """The error of a write on a store opened read-only (raised before anything is sent)."""
    return DatabaseError(
        f"the session history at {location} was opened read-only (HistoryConfig.read_only); "
        "nothing was written. Open it without read_only to change it.",
        path=location,
    )


def store_closed(location: str) -> StoreClosedError:
    return StoreClosedError(
        f"the session history at {location} is not open; use 'async with "
        "SessionHistory(config)' or 'await history.open()' first",
        path=location,
    )
