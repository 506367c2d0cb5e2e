"""The ``session-history`` command: look at what agents did.

Every command opens the database given by ``--db`` (else ``$SESSION_HISTORY_DB``, else
``history.db`` in the user data directory) through :class:`~session_history.SyncSessionHistory`,
so the CLI exercises the same code as the library. A user's mistake (missing file, unknown id,
newer database) ends with a one-line message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import click
import platformdirs

from .config import DB_ENV_VAR, HistoryConfig, default_db_path
from .errors import SessionHistoryError
from .models import ChatMessage, Session, SessionSummary
from .sync import SyncSessionHistory

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar=DB_ENV_VAR,
    default=None,
    help=f"Database file. Default: ${DB_ENV_VAR}, else history.db in the user data directory.",
)
@click.version_option(package_name="session-history")
@click.pass_context
def cli(ctx: click.Context, db_path: Path | None) -> None:
    """Browse the sessions your agents recorded."""
    ctx.obj = db_path if db_path is not None else default_db_path()


@contextmanager
def _open(ctx: click.Context) -> Iterator[SyncSessionHistory]:
    path: Path = ctx.find_root().obj
    if not path.exists():
        raise click.ClickException(
            f"no database at {path}; record sessions first, or point --db at one"
        )
    try:
        with SyncSessionHistory(HistoryConfig(enabled=True, db_path=path)) as history:
            yield history
    except SessionHistoryError as exc:
        raise click.ClickException(str(exc)) from exc


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def sessions_table(summaries: Sequence[SessionSummary]) -> str:
    """The sessions as a table a person reads: newest first, one line each."""
    return _table(
        ["ID", "AGENT", "MODEL", "MSGS", "TURNS", "TOOLS", "TOKENS", "UPDATED (UTC)"],
        [
            [
                s.id,
                s.agent_name,
                s.model,
                s.message_count,
                s.turn_count,
                s.tool_call_count,
                s.usage.total_tokens if s.usage else "-",
                _when(s.updated_at),
            ]
            for s in summaries
        ],
    )


def _transcript(session: Session) -> Iterator[str]:
    yield f"session {session.session_id}  agent {session.agent_name}  model {session.model}"
    yield f"started {_when(session.started_at)}  ended {_when(session.ended_at)}"
    if session.usage:
        u = session.usage
        yield f"usage   {u.input_tokens} in, {u.output_tokens} out, {u.total_tokens} total"
    for key, value in session.metadata.items():
        yield f"{key:<8}{value}"
    for seq, message in enumerate(session.messages):
        yield ""
        yield from _message_lines(seq, message)


def _message_lines(seq: int, message: ChatMessage) -> Iterator[str]:
    who = message.role.value + (f" ({message.name})" if message.name else "")
    if message.tool_call_id:
        who += f" -> {message.tool_call_id}"
    yield f"[{seq}] {who}"
    if message.reasoning:
        yield f"    thinking: {message.reasoning}"
    if message.content is not None:
        yield from (f"    {line}" for line in message.content.splitlines() or [""])
    for call in message.tool_calls or []:
        arguments = json.dumps(call.arguments, ensure_ascii=False)
        yield f"    calls {call.name}({arguments})  [{call.id}]"


@cli.command("list")
@click.option("-n", "--limit", type=click.IntRange(min=0), default=None, help="At most N sessions.")
@click.option("--agent", default=None, help="Only this agent's sessions.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_command(ctx: click.Context, limit: int | None, agent: str | None, as_json: bool) -> None:
    """List sessions, most recently updated first."""
    with _open(ctx) as history:
        summaries = history.list_sessions(limit=limit, agent_name=agent)
    if as_json:
        click.echo(json.dumps([s.model_dump(mode="json") for s in summaries], indent=2))
    elif summaries:
        click.echo(sessions_table(summaries))
    else:
        click.echo("no sessions")


@cli.command("show")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="Print the session as JSON.")
@click.pass_context
def show_command(ctx: click.Context, session_id: str, as_json: bool) -> None:
    """Show one session's transcript: messages, tool calls, results, usage."""
    with _open(ctx) as history:
        session = history.load_session(session_id)
    if session is None:
        raise click.ClickException(
            f"no session with id {session_id!r}; 'session-history list' shows the stored ids"
        )
    if as_json:
        click.echo(session.model_dump_json(indent=2, exclude_defaults=True))
    else:
        click.echo("\n".join(_transcript(session)))


@cli.command("demo")
@click.option(
    "--path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Database for the demo. Default: demo.db in the data directory (never your history).",
)
def demo_command(path: Path | None) -> None:
    """Record a few example agent sessions, with a printing hook plugin, and list them."""
    from .demo import run_demo

    if path is None:
        path = platformdirs.user_data_path("session-history", appauthor=False) / "demo.db"
    try:
        summaries = run_demo(path, click.echo)
    except SessionHistoryError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("")
    click.echo(sessions_table(summaries))
    click.echo(f"\nStored in {path}. Look closer with:")
    click.echo(f"  session-history --db {path} show {summaries[0].id}")


def main() -> None:
    """Entry point of the ``session-history`` script."""
    cli()
