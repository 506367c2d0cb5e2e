"""What every backend does the same way, written once.

The backends differ in their driver (a ``sqlite3`` connection on a worker thread, an asyncpg pool
on an event loop) and their SQL dialect; the rules do not. Here are the rules, each rendered for
either placeholder style where it is SQL:

* :class:`Params`: bound parameters in the dialect's style (``?`` or ``$1``), never formatted in;
* :func:`list_sql`: the listing query (filters, keyset cursor, order, paging);
* :func:`prune_rules`: which sessions pruning removes, in which order, for which reason;
* :func:`unchanged`: whether an imported session is the stored one;
* :func:`message_rows` and :func:`with_entry_ids`: a message as it is stored (entry id, role,
  JSON body);
* :func:`check_revision`: the optimistic-concurrency rule of every write;
* :func:`live`: the condition that leaves out expired sessions, everywhere;
* :func:`migrate`: the migration runner over the named steps;
* :func:`store_closed` and :func:`read_only_refusal`: the errors of a store used while not
  open, and of a write on one opened read-only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar

from .._codec import message_body
from .._errors import DatabaseError, MigrationError, RevisionConflictError, StoreClosedError
from .._migrations import Migration, Migrations
from .._models import ChatMessage, ExportedSession, utc_now
from .base import ListQuery
from .tree import new_entry_id

__all__ = [
    "DollarParams",
    "MessageRow",
    "Params",
    "PruneRule",
    "QmarkParams",
    "check_revision",
    "common_prefix",
    "identified",
    "list_sql",
    "live",
    "message_rows",
    "migrate",
    "now_ts",
    "prune_rules",
    "read_only_refusal",
    "store_closed",
    "unchanged",
    "with_entry_ids",
    "without_entry_id",
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


def live(p: Params, scope: str | None = None, *, now: datetime | None = None) -> str:
    """The condition a session row meets when it is there for a caller: not expired (at
    ``now``), and of ``scope`` when one is given. An expired session reads as missing
    everywhere, until ``prune(expired=True)`` deletes it."""
    condition = f"(expires_at IS NULL OR expires_at > {p(now or utc_now())})"
    if scope is not None:
        condition += f" AND scope = {p(scope)}"
    return condition


def check_revision(session_id: str, expected: int | None, stored: int) -> None:
    """Every write that changes a session refuses to when given another revision than the
    stored one; backends call this in the write's own transaction, after locking the row."""
    if expected is not None and expected != stored:
        raise RevisionConflictError(session_id, expected, stored)


def list_sql(query: ListQuery, *, select: str, table: str, p: Params) -> str:
    """The listing query: ``select`` from ``table``, filtered, in listing order, paged."""
    where: list[str] = [live(p, query.scope)]
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

    reason: Literal["max_sessions", "max_age", "expired"]
    selection: str
    params: list[object]


def prune_rules(
    max_sessions: int | None,
    older_than: datetime | None,
    params: Callable[[], Params],
    *,
    expired: bool = False,
    scope: str | None = None,
) -> list[PruneRule]:
    """The rules pruning applies, in order: expired sessions first, then by age, then all but
    the newest ``max_sessions`` of what is left (so a session is reported under the first rule
    that removes it); each only among ``scope``'s sessions when one is given. The age and count
    rules see live sessions only: an expired one is already missing."""
    rules: list[PruneRule] = []
    now = utc_now()
    if expired:
        p = params()
        mine = f" AND scope = {p(scope)}" if scope is not None else ""
        rules.append(PruneRule("expired", f"WHERE expires_at <= {p(now)}{mine}", p.values))
    if older_than is not None:
        p = params()
        where = f"WHERE {live(p, scope, now=now)} AND updated_at < {p(older_than)}"
        rules.append(PruneRule("max_age", where, p.values))
    if max_sessions is not None:
        p = params()
        where = f"WHERE {live(p, scope, now=now)}"
        selection = f"{where} {ORDER} LIMIT {p.limit(None)} OFFSET {p(max_sessions)}"
        rules.append(PruneRule("max_sessions", selection, p.values))
    return rules


@dataclass(frozen=True, slots=True)
class MessageRow:
    """A message as it is stored: made before the hand-off to the database, so the database's
    thread or loop does no encoding. ``body`` holds the entry id too (so reads need no
    column of their own for it); ``entry_id`` is its indexed copy."""

    entry_id: str
    role: str
    body: str


def with_entry_ids(messages: Sequence[ChatMessage]) -> tuple[list[ChatMessage], bool]:
    """The messages, each with its entry id: a new UUIDv7 where the caller gave none. The second
    value says whether the caller gave any (only then can an append be a retry)."""
    given = False
    out: list[ChatMessage] = []
    for message in messages:
        if message.entry_id is None:
            out.append(message.model_copy(update={"entry_id": new_entry_id()}))
        else:
            given = True
            out.append(message)
    return out, given


def message_rows(messages: Sequence[ChatMessage]) -> list[MessageRow]:
    """Rows of messages that have their entry ids (:func:`with_entry_ids`)."""
    return [MessageRow(m.entry_id or "", m.role.value, message_body(m)) for m in messages]


def identified(messages: Sequence[ChatMessage], ids: Sequence[str]) -> list[ChatMessage]:
    """``messages`` with ``ids`` for those the caller gave no id."""
    return [
        m if m.entry_id is not None else m.model_copy(update={"entry_id": i})
        for m, i in zip(messages, ids, strict=True)
    ]


def common_prefix(stored: Sequence[str], given: Sequence[ChatMessage]) -> int:
    """How many first messages ``given`` has as the stored bodies are (entry ids compared only
    where the caller gave one): what a save keeps of the stored branch."""
    n = 0
    for body, message in zip(stored, given, strict=False):
        if message.entry_id is not None:
            if body != message_body(message):
                break
        elif without_entry_id(body) != message_body(message):
            break
        n += 1
    return n


def without_entry_id(body: str) -> str:
    """A stored body as it would be without its entry id (the last field pydantic writes), to
    compare a stored message with one a caller gave without an id."""
    cut = body.rfind(',"entry_id":')
    return body if cut < 0 else body[:cut] + "}"


def unchanged(stored_line: str, session: ExportedSession) -> bool:
    """Whether an imported ``session`` is the stored one, whose export line is ``stored_line``
    (compared as models, so equal values written differently match). What the imported line
    leaves to the store is no difference: times it does not give (set by the store on the first
    import), a revision, and the entry ids of a line of an earlier release, which has none (or
    each import of the same file would replace it)."""
    stored = ExportedSession.model_validate_json(stored_line)
    update: dict[str, object] = {}
    for name in ("started_at", "updated_at", "revision"):
        if getattr(session, name) is None:
            update[name] = getattr(stored, name)
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
