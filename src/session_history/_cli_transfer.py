"""The CLI's commands that move sessions: ``export``, ``import`` and ``copy``.

``export`` and ``copy``'s source only read. ``import`` reads its file as bytes, so a line that is
not UTF-8 is one bad line among good ones, and opens (or creates) the database only once the file
has given a session: an import that has nothing to import creates no database. ``import`` and
``copy`` store every session the target takes and report each one it does not, by its line (or
place in the source), the first :data:`SHOWN_ERRORS` of them and how many more.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import click

from . import _cli_common as common
from . import _render as render
from ._jsonl import ExportReader
from ._models import ImportReport

__all__ = ["SHOWN_ERRORS", "copy_command", "export_command", "import_command"]

SHOWN_ERRORS = 20
"""How many bad lines an import (or sessions a copy) names: a file that is not an export at all
would otherwise print a line for each of its lines."""


@click.command("export")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="Write to this file instead of standard output (a new file is private: mode 0600).",
)
@click.pass_context
def export_command(ctx: click.Context, output: str) -> None:
    """Export every session as JSON lines (one session per line), losslessly."""
    count = 0
    with common.open_store(ctx) as history, _output(output) as out:
        total = history.session_count()
        try:
            with common.progress(total, "exporting") as bar:
                # In pieces: a session of a million messages is never held as one line.
                for piece in history.export_chunks():
                    out.write(piece)
                    if piece == "\n":
                        count += 1
                        bar.update(1)
            # Now, not when click closes the file after the command: a full disk is found here.
            out.flush()
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise
            with contextlib.suppress(OSError):  # its buffer cannot be written either
                out.close()
            name = "standard output" if output == "-" else output
            raise click.ClickException(
                f"{common.os_problem(exc, name)}; {count} of {total} session(s) were written "
                "before it stopped"
            ) from None
    click.echo(f"exported {count} session(s)", err=True)


@contextlib.contextmanager
def _output(name: str) -> Iterator[IO[str]]:
    """Where ``export`` writes: standard output, or file ``name``, made once the store is open
    (an export that fails to start leaves no file) and private to its owner when new, whatever
    the umask: it holds the same conversations as the database, which is 0600 too. A file that
    is there keeps its mode, as a database does."""
    if name == "-":
        with click.open_file("-", "w", encoding="utf-8") as stdout:
            yield stdout
        return
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise click.ClickException(f"cannot write {name}: {exc.strerror}") from None
    with open(fd, "w", encoding="utf-8") as file:
        yield file


@click.command("import")
@click.argument("source", type=click.File("rb"))
@click.pass_context
def import_command(ctx: click.Context, source: IO[bytes]) -> None:
    """Import an export (a file, or - for standard input). Importing it again adds nothing;
    a line that cannot be read is reported with its number and the rest is imported."""
    size = _size_of(source)
    lines = iter(source)
    # Read up to the first session before opening the database: a file with none (not an
    # export at all, say) is reported without creating anything.
    head: list[bytes] = []
    probe = ImportReport()
    reader = ExportReader(probe)
    for number, line in enumerate(lines, start=1):
        head.append(line)
        if reader.read(number, line) is not None:
            break
    else:
        _report(probe, "no database was opened")
        if probe.errors:
            ctx.exit(1)
        return
    with (
        common.open_store(ctx, "create") as history,
        common.progress(size or 0, "importing") as bar,
    ):

        def counted() -> Iterator[bytes]:
            for line in itertools.chain(head, lines):
                bar.update(len(line))
                yield line

        report = history.import_jsonl(counted())
    _report(report)
    if report.errors:
        ctx.exit(1)


def _report_errors(errors: list[tuple[int, str]], where: str) -> None:
    for number, message in errors[:SHOWN_ERRORS]:
        click.echo(render.visible(f"{where}{number}: {message}"), err=True)
    if len(errors) > SHOWN_ERRORS:
        click.echo(f"... and {len(errors) - SHOWN_ERRORS} more", err=True)


def _report(report: ImportReport, note: str = "") -> None:
    _report_errors(report.errors, "line ")
    click.echo(
        f"imported {report.sessions} session(s): {report.added} added, {report.replaced} "
        f"replaced, {report.unchanged} unchanged"
        + (f"; {len(report.errors)} line(s) skipped" if report.errors else "")
        + (f"; {note}" if note else ""),
        err=True,
    )


def _size_of(source: IO[bytes]) -> int | None:
    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
        return Path(source.name).stat().st_size
    return None


@click.command("copy")
@click.argument("destination")
@click.pass_context
def copy_command(ctx: click.Context, destination: str) -> None:
    """Copy every session and message to DESTINATION (a file or postgresql:// URL), losslessly.

    For moving from SQLite to PostgreSQL and back. Sessions already there, as they are, stay
    untouched; running it again copies only what changed.
    """
    report = ImportReport()
    with (
        common.open_store(ctx) as source,
        common.open_at(destination, "create") as target,
    ):
        total = source.session_count()
        with common.progress(total, "copying") as bar:
            # In chunks, from this thread: each side's blocking door waits on the shared
            # background loop, so one must not be iterated from inside the other's call.
            chunk: list[str] = []
            copied = 0  # sessions of the source before this chunk

            def flush() -> None:
                nonlocal copied
                done = target.import_jsonl(chunk)
                report.added += done.added
                report.replaced += done.replaced
                report.unchanged += done.unchanged
                report.errors += [(copied + n, message) for n, message in done.errors]
                copied += len(chunk)
                bar.update(len(chunk))
                chunk.clear()

            for line in source.export_jsonl():
                chunk.append(line)
                if len(chunk) >= 500:
                    flush()
            if chunk:
                flush()
    _report_errors(report.errors, "#")  # the session's place in the source
    click.echo(
        f"copied {report.sessions} session(s) to {target.config.location}: {report.added} "
        f"added, {report.replaced} replaced, {report.unchanged} unchanged"
        + (f"; {len(report.errors)} session(s) not copied" if report.errors else ""),
        err=True,
    )
    if report.errors:
        ctx.exit(1)
