"""Sessions as JSON lines: exporting them, and importing them, each line becoming a session or an
error with its number.

:func:`export_lines` is the body of :meth:`~session_history.SessionHistory.export_jsonl`, and
:func:`import_lines` the body of :meth:`~session_history.SessionHistory.import_jsonl`. An import
hands every line to an :class:`ExportReader`, which says what is wrong with a line in words a
person can act on, so that one bad line never stops an import: bytes that are not UTF-8, text that
is not JSON, a required field missing (``session_id``, ``agent_name``, ``model``, ``messages``),
or a session id already given on an earlier line (the first line with an id is imported; later
ones are reported and skipped, so importing the same file again finds every session unchanged).

The sessions are written in batches, each one transaction. A session the database refuses (a
NUL character PostgreSQL cannot keep in text, a value out of its range, an id too long for its
index) fails its whole batch's transaction: that batch is then written again in halves, and a
refused half in halves again, down to the refused sessions alone (a batch of 500 with one of
them costs some 18 transactions, not 500), each reported with its line number like a bad line,
so that one bad session never keeps the others out. A failure that is not about a session's
values (a lost connection, a full disk, a closed store) still ends the import."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Literal

from pydantic import ValidationError

from ._arguments import session_problem
from ._backends.base import Backend, ImportOutcome
from ._backends.windows import WINDOW, read_windows
from ._errors import DatabaseError, InvalidQueryError
from ._lines import HUGE, HugeLine, LineProblem, read_huge
from ._models import ChatMessage, ExportedSession, ImportReport, SessionSummary

__all__ = [
    "ExportReader",
    "export_lines",
    "export_text",
    "first_error",
    "import_lines",
    "refused_values",
]

FireSaved = Callable[
    [SessionSummary, Sequence[ChatMessage], Literal["create", "save"]], Awaitable[None]
]
"""How the store tells its plugins about an imported session (``session_history_saved``)."""


async def export_text(backend: Backend, *, batch_size: int) -> AsyncIterator[str]:
    """Every session of an open ``backend`` as one line, in a stable order, in pieces: each
    line's text, then ``"\n"`` alone. Sessions are read ``batch_size`` at a time (each batch in
    one consistent snapshot); a long session's messages a window at a time after it, each
    window a piece (``_backends/windows.py`` says why the line is still that snapshot's)."""
    cursor: int | None = 0
    while cursor is not None:
        batch = await backend.export_parts(cursor, batch_size, WINDOW)
        for session_id, pieces in batch.lines:
            for piece in pieces:
                if isinstance(piece, str):
                    yield piece
                    continue
                comma = ""
                async for bodies in read_windows(backend, session_id, piece, WINDOW):
                    yield comma + ",".join(bodies)
                    comma = ","
            yield "\n"
        cursor = batch.next_cursor


async def export_lines(backend: Backend, *, batch_size: int) -> AsyncIterator[str]:
    """Every session of an open ``backend`` as one line (:func:`export_text`, joined)."""
    line: list[str] = []
    async for piece in export_text(backend, batch_size=batch_size):
        if piece == "\n":
            yield "".join(line)
            line.clear()
        else:
            line.append(piece)


async def import_lines(
    backend: Backend,
    lines: Iterable[str | bytes],
    *,
    batch_size: int,
    fire_saved: FireSaved | None,
) -> ImportReport:
    """Import ``lines`` into an open ``backend``; ``fire_saved`` is given when a plugin listens."""
    report = ImportReport()
    # A plugin told of each session gets its messages: then a huge line is read whole.
    reader = ExportReader(report, huge=fire_saved is None)
    batch: list[tuple[int, ExportedSession]] = []
    # While one batch is written (on the database's thread, which releases the GIL), the next
    # one is parsed here: the two halves of an import overlap instead of alternating.
    writing: asyncio.Task[None] | None = None
    try:
        for number, line in enumerate(lines, start=1):
            session = reader.read(number, line)
            if session is None:
                continue
            if isinstance(session, HugeLine):
                # Alone, in order: what came before it first, then it, in its own transaction.
                if writing is not None:
                    await writing
                    writing = None
                if batch:
                    await _write(backend, batch, report, fire_saved)
                    batch = []
                await _write_huge(backend, number, session, report)
                continue
            batch.append((number, session))
            if len(batch) >= batch_size:
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(_write(backend, batch, report, fire_saved))
                await asyncio.sleep(0)  # let it hand the batch over before we parse on
                batch = []
    except BaseException as exc:
        if writing is not None:
            await asyncio.wait([writing])  # never leave a write running unobserved
            failed = None if writing.cancelled() else writing.exception()
            if failed is not None and failed is not exc:  # said, not logged as never retrieved
                exc.add_note(f"and the batch being written failed: {failed!r}")
        raise
    if writing is not None:
        await writing
    if batch:
        await _write(backend, batch, report, fire_saved)
    report.errors.sort()  # the lines a batch refused are known only once it was written
    return report


async def _write(
    backend: Backend,
    batch: list[tuple[int, ExportedSession]],
    report: ImportReport,
    fire_saved: FireSaved | None,
) -> None:
    outcomes = await _store(backend, batch, report, want_summary=fire_saved is not None)
    for outcome in outcomes:
        if outcome.outcome == "added":
            report.added += 1
        elif outcome.outcome == "replaced":
            report.replaced += 1
        else:
            report.unchanged += 1
    for outcome in outcomes:
        if outcome.summary is not None and fire_saved is not None:
            operation: Literal["create", "save"] = (
                "create" if outcome.outcome == "added" else "save"
            )
            await fire_saved(outcome.summary, outcome.messages, operation)


async def _write_huge(backend: Backend, number: int, huge: HugeLine, report: ImportReport) -> None:
    try:
        outcomes = await backend.import_huge(huge)
    except Exception as exc:
        if not refused_values(exc):
            raise
        report.errors.append((number, f"session {_id(huge.head)} not stored: {exc}"))
        return
    for outcome in outcomes:
        if outcome.outcome == "added":
            report.added += 1
        elif outcome.outcome == "replaced":
            report.replaced += 1
        else:
            report.unchanged += 1


async def _store(
    backend: Backend,
    batch: list[tuple[int, ExportedSession]],
    report: ImportReport,
    *,
    want_summary: bool,
) -> list[ImportOutcome]:
    """Store ``batch`` in one transaction; if the database refuses a session's values, each half
    of it the same way, so that every session it takes is stored and each one it refuses is an
    error of its line."""
    try:
        return await backend.import_sessions([s for _, s in batch], want_summary=want_summary)
    except Exception as exc:
        if not refused_values(exc):
            raise
        if len(batch) == 1:
            number, session = batch[0]
            report.errors.append((number, f"session {_id(session)} not stored: {exc}"))
            return []
    # Nothing of the batch was stored (one transaction): its halves, one after the other.
    half = len(batch) // 2
    first = await _store(backend, batch[:half], report, want_summary=want_summary)
    return first + await _store(backend, batch[half:], report, want_summary=want_summary)


def _id(session: ExportedSession) -> str:
    """A session's id as a report shows it: whole if it is short, else its start and length."""
    sid = session.session_id
    return repr(sid) if len(sid) <= 60 else f"{sid[:40]!r}... ({len(sid)} characters)"


def refused_values(exc: BaseException) -> bool:
    """Whether ``exc`` says the database refused the values of what was written (so that other
    sessions may well go in), rather than that the database cannot be used now."""
    if isinstance(exc, InvalidQueryError | OverflowError):
        return True  # our own checks of values, or a driver's integer out of its range
    if type(exc) is not DatabaseError:  # a lost connection, a closed store, not a database...
        return False
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if isinstance(sqlstate, str):
        # PostgreSQL's classes of refused values: data exceptions (22), integrity constraints
        # (23), program limits such as an index row too large (54).
        return sqlstate[:2] in ("22", "23", "54")
    name = getattr(cause, "sqlite_errorname", "")
    return isinstance(name, str) and name.startswith(
        ("SQLITE_TOOBIG", "SQLITE_CONSTRAINT", "SQLITE_MISMATCH", "SQLITE_RANGE")
    )


class ExportReader:
    """Reads the lines of one export, in order, recording each bad line in ``report.errors``."""

    def __init__(self, report: ImportReport, *, huge: bool = True) -> None:
        self.report = report
        self.huge = huge
        """Whether a line longer than ``_lines.HUGE`` is read in pieces (a :class:`HugeLine`)."""
        self._first_line: dict[str, int] = {}

    def read(self, number: int, line: str | bytes) -> ExportedSession | HugeLine | None:
        """The session on line ``number``, or None for a blank or bad line (recorded); a huge
        line's as a :class:`HugeLine`, whose messages are parsed as they are stored."""
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                self._bad(
                    number,
                    f"not UTF-8 text (byte 0x{line[exc.start]:02x} at column {exc.start + 1}); "
                    "an export is UTF-8: convert the file (iconv -t UTF-8), or fix that line",
                )
                return None
        if number == 1:
            line = line.removeprefix("\ufeff")  # a byte-order mark some editors write
        if not line.strip():
            return None
        found: HugeLine | None = None
        try:
            if self.huge and len(line) > HUGE:
                found = read_huge(line)
            session = found.head if found else ExportedSession.model_validate_json(line)
        except LineProblem as exc:
            self._bad(number, str(exc))
            return None
        except ValidationError as exc:
            self._bad(number, first_error(exc))
            return None
        except OverflowError as exc:  # a time that is in range only until made UTC
            self._bad(
                number,
                f"a time is out of range once in UTC ({exc}); times must fall within the "
                "years 1 to 9999 in UTC",
            )
            return None
        problem = session_problem(session)  # JSON is read leniently: a count may not fit
        if problem is not None:
            self._bad(number, f"{problem}; fix that line")
            return None
        first = self._first_line.setdefault(session.session_id, number)
        if first != number:
            self._bad(
                number,
                f"session {session.session_id!r} is on line {first} too; the first line "
                "with an id is imported and this one skipped (keep one of the two)",
            )
            return None
        return found if found is not None else session

    def _bad(self, number: int, message: str) -> None:
        self.report.errors.append((number, message))


def first_error(exc: ValidationError) -> str:
    """One line for a person: where in the line, and what is wrong."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where + ': ' if where else ''}{error['msg']}{more}"
