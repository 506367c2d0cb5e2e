"""The ``session-history`` command: look at what agents did.

Every command opens the database given by ``--db`` (else ``$SESSION_HISTORY_DB``, else
``history.db`` in the user data directory) through :class:`~session_history.SyncSessionHistory`,
so the CLI runs the same code as the library, installed hook plugins included. Output is a table
on a terminal and tab-separated text when piped, stored control characters shown escaped;
``--json`` wherever it fits. A user's mistake (missing file, unknown id, bad query, newer
database, a number too large) ends with a one-line message and exit status 1, or 2 when the
command line itself is wrong, never a traceback; a command that only reads, or fails, creates
and changes nothing.

The commands live in modules named for what they do: ``_cli_browse`` (list, show, search,
stats), ``_cli_change`` (delete, prune, upgrade), ``_cli_transfer`` (export, import, copy) and
``_cli_extras`` (plugins, demo), over ``_cli_common`` (opening the database, checking input).
"""

from __future__ import annotations

from typing import Any

import click

from ._cli_browse import list_command, search_command, show_command, stats_command
from ._cli_change import delete_command, prune_command, upgrade_command
from ._cli_common import one_line_errors
from ._cli_extras import demo_command, plugins_command
from ._cli_transfer import copy_command, export_command, import_command
from ._config import DB_ENV_VAR, default_db_path

__all__ = ["cli", "main"]


class _Group(click.Group):
    """The command group whose every failure is one line (see ``one_line_errors``): those of
    its own options, and those of its commands, options and arguments."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        argv = list(args)
        with one_line_errors(argv, info_name or "session-history"):
            ctx = super().make_context(info_name, args, parent, **extra)
        ctx.meta["session_history.argv"] = argv
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        with one_line_errors(ctx.meta.get("session_history.argv", []), ctx.command_path):
            return super().invoke(ctx)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
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
    # An empty --db is refused when a command opens it, not taken for the default database.
    ctx.obj = db if db is not None else str(default_db_path())


for _command in (
    list_command,
    show_command,
    search_command,
    stats_command,
    delete_command,
    prune_command,
    upgrade_command,
    export_command,
    import_command,
    copy_command,
    plugins_command,
    demo_command,
):
    cli.add_command(_command)


def main() -> None:
    """Entry point of the ``session-history`` script."""
    cli()
