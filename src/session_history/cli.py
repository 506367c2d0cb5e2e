"""The ``session-history`` command: look at what agents did.

Every command opens the database given by ``--db`` (else ``$SESSION_HISTORY_DB``, else
``history.db`` in the user data directory) through :class:`~session_history.SyncSessionHistory`,
so the CLI runs the same code as the library, installed hook plugins included. Output is a table
on a terminal and tab-separated text when piped; ``--json`` wherever it fits. A user's mistake
(missing file, unknown id, bad query, newer database) ends with a one-line message and exit
status 1, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

import click
import platformdirs

from . import _render as render
from ._config import DB_ENV_VAR, HistoryConfig, default_db_path
from ._errors import SessionHistoryError
from ._models import ImportReport
from ._plugins import ENTRYPOINT_GROUP, make_plugin_manager
from ._sync import SyncSessionHistory

__all__ = ["cli", "main"]

T = TypeVar("T")


def is_terminal() -> bool:
    """Whether standard output is a terminal (tables) rather than a pipe (plain text)."""
    return sys.stdout.isatty()


class _NoProgress:
    def update(self, n_steps: int) -> None:
        pass


@contextlib.contextmanager
def _progress(length: int, label: str) -> Iterator[Any]:
    """A progress bar on standard error when it is a terminal; nothing at all otherwise."""
    if not sys.stderr.isatty() or length <= 0:
        yield _NoProgress()
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar


def _option_value(
    parse: Callable[[str], T],
) -> Callable[[click.Context, click.Parameter, Any], T | None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> T | None:
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None

    return callback


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db",
    envvar=DB_ENV_VAR,
    default=None,
    help=f"Database file or postgresql:// URL. Default: ${DB_ENV_VAR}, else history.db in the "
    "user data directory.",
)
@click.version_option(package_name="session-history")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """Browse, search, prune, export and import the sessions your agents recorded."""
    ctx.obj = db if db else str(default_db_path())


def _config(where: str) -> HistoryConfig:
    """A file path or a PostgreSQL URL, as HistoryConfig reads either."""
    return HistoryConfig.model_validate({"enabled": True, "db_path": where})


@contextlib.contextmanager
def _open_at(where: str, *, create: bool = False) -> Iterator[SyncSessionHistory]:
    config = _config(where)
    if config.url is None and not create and not config.db_path.exists():
        raise click.ClickException(
            f"no database at {config.db_path}; record sessions first, or point --db (or "
            f"${DB_ENV_VAR}) at one"
        )
    try:
        with SyncSessionHistory(config) as history:
            yield history
    except SessionHistoryError as exc:
        raise click.ClickException(str(exc)) from exc


def _open(
    ctx: click.Context, *, create: bool = False
) -> contextlib.AbstractContextManager[SyncSessionHistory]:
    return _open_at(ctx.find_root().obj, create=create)


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


@cli.command("list")
@click.option("--agent", default=None, help="Only this agent's sessions.")
@click.option("--model", default=None, help="Only sessions with this model.")
@click.option(
    "--since",
    callback=_option_value(render.parse_when),
    help="Only sessions updated since then: 7d, 12h, 2026-01-31 or an ISO datetime.",
)
@click.option(
    "--until",
    callback=_option_value(render.parse_when),
    help="Only sessions updated before then (same forms as --since).",
)
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Sessions per page.",
)
@click.option(
    "--page", type=click.IntRange(min=1), default=1, show_default=True, help="Which page."
)
@click.option("--all", "show_all", is_flag=True, help="Every session, no paging.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_command(
    ctx: click.Context,
    agent: str | None,
    model: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    page: int,
    show_all: bool,
    as_json: bool,
) -> None:
    """List sessions, most recently updated first."""
    with _open(ctx) as history:
        summaries = history.list_sessions(
            limit=None if show_all else limit,
            offset=0 if show_all else (page - 1) * limit,
            agent_name=agent,
            model=model,
            updated_since=since,
            updated_until=until,
        )
    if as_json:
        _echo_json([s.model_dump(mode="json") for s in summaries])
    elif summaries:
        click.echo(render.sessions_table(summaries, terminal=is_terminal()))
        if not show_all and len(summaries) == limit and is_terminal():
            click.echo(f"(page {page}; --page {page + 1} for more, or --all)", err=True)
    else:
        click.echo("no sessions" + (" on this page" if page > 1 else ""), err=True)


@cli.command("show")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="Print the session as JSON.")
@click.option("--markdown", is_flag=True, help="Print the session as Markdown.")
@click.pass_context
def show_command(ctx: click.Context, session_id: str, as_json: bool, markdown: bool) -> None:
    """Show one session: messages, tool calls and results, reasoning, usage."""
    with _open(ctx) as history:
        session = history.load_session(session_id)
    if session is None:
        raise click.ClickException(
            f"no session with id {session_id!r}; 'session-history list' shows the stored ids"
        )
    if as_json:
        click.echo(session.model_dump_json(indent=2, exclude_defaults=True))
    elif markdown:
        click.echo(render.markdown(session), nl=False)
    else:
        click.echo("\n".join(render.transcript(session)))


@cli.command("search")
@click.argument("query")
@click.option("--agent", default=None, help="Only this agent's sessions.")
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="At most N hits.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def search_command(
    ctx: click.Context, query: str, agent: str | None, limit: int, as_json: bool
) -> None:
    """Search messages (content, reasoning, tool calls), best match first.

    QUERY is plain words, all of which must match, and "quoted phrases"; word* matches a prefix.
    """
    with _open(ctx) as history:
        try:
            hits = history.search(
                query,
                agent_name=agent,
                limit=limit,
                highlight=("[", "]") if as_json else render.MARK,
            )
        except SessionHistoryError as exc:
            raise click.ClickException(str(exc)) from exc
    if as_json:
        _echo_json([hit.model_dump(mode="json") for hit in hits])
    elif hits:
        click.echo(render.hits_text(hits, terminal=is_terminal()))
    else:
        click.echo("no matches", err=True)


@cli.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_context
def stats_command(ctx: click.Context, as_json: bool) -> None:
    """Sessions, messages, tokens, per agent and model, and the database's size."""
    with _open(ctx) as history:
        stats = history.stats()
    if as_json:
        _echo_json(stats.model_dump(mode="json"))
    else:
        click.echo(render.stats_text(stats, terminal=is_terminal()))


@cli.command("delete")
@click.argument("session_id")
@click.pass_context
def delete_command(ctx: click.Context, session_id: str) -> None:
    """Delete one session and its messages (hook plugins are told)."""
    with _open(ctx) as history:
        deleted = history.delete_session(session_id)
    if not deleted:
        raise click.ClickException(
            f"no session with id {session_id!r}; nothing was deleted "
            "('session-history list' shows the stored ids)"
        )
    click.echo(f"deleted {session_id}", err=True)


@cli.command("prune")
@click.option(
    "--max-sessions",
    type=click.IntRange(min=0),
    default=None,
    help="Keep this many of the most recently updated sessions.",
)
@click.option(
    "--older-than",
    callback=_option_value(render.parse_duration),
    help="Drop sessions not updated for this long: 30d, 12h, 2w.",
)
@click.option("--dry-run", is_flag=True, help="List what would go; remove nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the pruned sessions as JSON.")
@click.pass_context
def prune_command(
    ctx: click.Context,
    max_sessions: int | None,
    older_than: timedelta | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Remove old sessions: by age, then all but the newest N (hook plugins are told)."""
    if max_sessions is None and older_than is None:
        raise click.UsageError("say what to prune: --max-sessions N and/or --older-than 30d")
    with _open(ctx) as history:
        pruned = history.prune(max_sessions=max_sessions, max_age=older_than, dry_run=dry_run)
    if as_json:
        _echo_json([s.model_dump(mode="json") for s in pruned])
        return
    if pruned:
        click.echo(render.sessions_table(pruned, terminal=is_terminal()))
    verb = "would prune" if dry_run else "pruned"
    click.echo(f"{verb} {len(pruned)} session(s)", err=True)


@cli.command("export")
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Write to this file instead of standard output.",
)
@click.pass_context
def export_command(ctx: click.Context, output: IO[str]) -> None:
    """Export every session as JSON lines (one session per line), losslessly."""
    count = 0
    with _open(ctx) as history:
        total = history.session_count()
        with _progress(total, "exporting") as bar:
            for line in history.export_jsonl():
                output.write(line + "\n")
                count += 1
                bar.update(1)
    click.echo(f"exported {count} session(s)", err=True)


@cli.command("import")
@click.argument("source", type=click.File("r", encoding="utf-8"))
@click.pass_context
def import_command(ctx: click.Context, source: IO[str]) -> None:
    """Import an export (a file, or - for standard input). Importing it again adds nothing;
    a line that cannot be read is reported with its number and the rest is imported."""
    size = _size_of(source)
    with (
        _open(ctx, create=True) as history,
        _progress(size or 0, "importing") as bar,
    ):

        def lines() -> Iterator[str]:
            for line in source:
                bar.update(len(line.encode("utf-8")))
                yield line

        report = history.import_jsonl(lines())
    for number, message in report.errors:
        click.echo(f"line {number}: {message}", err=True)
    click.echo(
        f"imported {report.sessions} session(s): {report.added} added, {report.replaced} "
        f"replaced, {report.unchanged} unchanged"
        + (f"; {len(report.errors)} line(s) skipped" if report.errors else ""),
        err=True,
    )
    if report.errors:
        ctx.exit(1)


def _size_of(source: IO[str]) -> int | None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        return Path(source.name).stat().st_size
    return None


@cli.command("copy")
@click.argument("destination")
@click.pass_context
def copy_command(ctx: click.Context, destination: str) -> None:
    """Copy every session and message to DESTINATION (a file or postgresql:// URL), losslessly.

    For moving from SQLite to PostgreSQL and back. Sessions already there, as they are, stay
    untouched; running it again copies only what changed.
    """
    report = ImportReport()
    with _open(ctx) as source, _open_at(destination, create=True) as target:
        total = source.session_count()
        with _progress(total, "copying") as bar:
            # In chunks, from this thread: each side's blocking door waits on the shared
            # background loop, so one must not be iterated from inside the other's call.
            chunk: list[str] = []

            def flush() -> None:
                done = target.import_jsonl(chunk)
                report.added += done.added
                report.replaced += done.replaced
                report.unchanged += done.unchanged
                bar.update(len(chunk))
                chunk.clear()

            for line in source.export_jsonl():
                chunk.append(line)
                if len(chunk) >= 500:
                    flush()
            if chunk:
                flush()
    click.echo(
        f"copied {report.sessions} session(s) to {target.config.location}: {report.added} "
        f"added, {report.replaced} replaced, {report.unchanged} unchanged",
        err=True,
    )


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List the installed hook plugins and the hooks each implements."""
    pm = make_plugin_manager(load_entrypoints=True)
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    found: list[tuple[str, str | None, list[str]]] = [
        (
            name,
            f"{dists[id(plugin)].project_name} {dists[id(plugin)].version}"
            if id(plugin) in dists
            else None,
            sorted(caller.name for caller in pm.get_hookcallers(plugin) or []),
        )
        for name, plugin in pm.list_name_plugin()
    ]
    if as_json:
        _echo_json([{"name": n, "package": p, "hooks": h} for n, p, h in found])
    elif found:
        rows = [[name, package or "-", ", ".join(hooks)] for name, package, hooks in found]
        click.echo(render.table(["PLUGIN", "PACKAGE", "HOOKS"], rows, terminal=is_terminal()))
    else:
        click.echo(f"no plugins installed (entry-point group {ENTRYPOINT_GROUP!r})", err=True)


@cli.command("demo")
@click.option(
    "--path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Database for the demo. Default: demo.db in the data directory (never your history).",
)
def demo_command(path: Path | None) -> None:
    """Record a few example agent sessions, with a printing hook plugin, and list them."""
    from ._demo import run_demo

    if path is None:
        path = platformdirs.user_data_path("session-history", appauthor=False) / "demo.db"
    try:
        summaries = run_demo(path, click.echo)
    except SessionHistoryError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("")
    click.echo(render.sessions_table(summaries))
    click.echo(f"\nStored in {path}. Look closer with:")
    click.echo(f"  session-history --db {path} show {summaries[0].id}")
    click.echo(f"  session-history --db {path} search umbrella")


def main() -> None:
    """Entry point of the ``session-history`` script."""
    cli()
