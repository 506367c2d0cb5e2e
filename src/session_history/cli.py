"""The ``session-history`` command: look at what agents did.

Every command opens the database given by ``--db`` (else ``$SESSION_HISTORY_DB``, else
``history.db`` in the user data directory) through :class:`~session_history.SyncSessionHistory`,
so the CLI runs the same code as the library, installed hook plugins included. Output is a table
on a terminal and tab-separated text when piped; ``--json`` wherever it fits. A user's mistake
(missing file, unknown id, bad query, newer database) ends with a one-line message and exit
status 1, never a traceback; a command that only reads, or fails, creates and changes nothing.

The commands live in modules named for what they do: ``_cli_browse`` (list, show, search,
stats), ``_cli_change`` (delete, prune, upgrade), ``_cli_transfer`` (export, import, copy) and
``_cli_extras`` (plugins, demo), over ``_cli_common`` (opening the database, checking input).
"""

from __future__ import annotations

import click

from ._cli_browse import list_command, search_command, show_command, stats_command
from ._cli_change import delete_command, prune_command, upgrade_command
from ._cli_extras import demo_command, plugins_command
from ._cli_transfer import copy_command, export_command, import_command
from ._config import DB_ENV_VAR, default_db_path

__all__ = ["cli", "main"]


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
