"""The CLI's commands that change a database that is there already: ``delete``, ``prune`` and
``upgrade``. None of them creates a database, or turns an empty file into one."""

from __future__ import annotations

from datetime import timedelta

import click

from . import _cli_common as common
from . import _render as render

__all__ = ["delete_command", "prune_command", "upgrade_command"]


@click.command("delete")
@click.argument("session_id", callback=common.text)
@common.scope_option
@click.pass_context
def delete_command(ctx: click.Context, session_id: str, scope: str | None) -> None:
    """Delete one session and its messages (hook plugins are told; entries a fork shares stay
    with the fork)."""
    with common.open_store(ctx, "change") as history:
        deleted = history.delete_session(session_id, scope=scope)
    if not deleted:
        raise click.ClickException(
            f"no session with id {session_id!r}; nothing was deleted "
            "('session-history list' shows the stored ids)"
        )
    click.echo(render.visible(f"deleted {session_id}"), err=True)


@click.command("prune")
@click.option(
    "--max-sessions",
    type=click.IntRange(min=0, max=common.MAX_COUNT),
    default=None,
    help="Keep this many of the most recently updated sessions.",
)
@click.option(
    "--older-than",
    callback=common.option_value(render.parse_age),
    help="Drop sessions not updated for this long: 30d, 12h, 2w.",
)
@click.option("--expired", is_flag=True, help="Drop expired sessions (past their expires_at).")
@click.option("--dry-run", is_flag=True, help="List what would go; remove nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the pruned sessions as JSON.")
@common.scope_option
@click.pass_context
def prune_command(
    ctx: click.Context,
    max_sessions: int | None,
    older_than: timedelta | None,
    expired: bool,
    dry_run: bool,
    as_json: bool,
    scope: str | None,
) -> None:
    """Remove sessions: expired ones, then by age, then all but the newest N (hook plugins
    are told)."""
    if max_sessions is None and older_than is None and not expired:
        raise click.UsageError(
            "say what to prune: --expired, --max-sessions N and/or --older-than 30d"
        )
    with common.open_store(ctx, "read" if dry_run else "change") as history:
        pruned = history.prune(
            max_sessions=max_sessions,
            max_age=older_than,
            expired=expired,
            scope=scope,
            dry_run=dry_run,
        )
    if as_json:
        common.echo_json([s.model_dump(mode="json") for s in pruned])
        return
    if pruned:
        click.echo(render.sessions_table(pruned, terminal=common.is_terminal()))
    verb = "would prune" if dry_run else "pruned"
    click.echo(f"{verb} {len(pruned)} session(s)", err=True)


@click.command("upgrade")
@click.pass_context
def upgrade_command(ctx: click.Context) -> None:
    """Upgrade the database to this version (one from an older version or the reference design).

    The other commands that only read (list, show, search, stats, export) leave a database as
    they find it, and refuse one that needs upgrading; this is how to upgrade it. Writing
    commands, and the library, upgrade a database when they open it.
    """
    with common.open_store(ctx, "change") as history:
        where = history.config.location
    click.echo(f"{where} is up to date", err=True)
