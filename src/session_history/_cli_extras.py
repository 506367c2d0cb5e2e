"""The CLI's commands about the installation rather than a database of yours: ``plugins`` (the
installed hook plugins) and ``demo`` (a few example sessions in a database of its own)."""

from __future__ import annotations

from pathlib import Path

import click
import platformdirs

from . import _cli_common as common
from . import _render as render
from ._demo import run_demo
from ._errors import SessionHistoryError
from ._plugins import ENTRYPOINT_GROUP, make_plugin_manager
from ._urls import is_url

__all__ = ["demo_command", "plugins_command"]


@click.command("plugins")
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
        common.echo_json([{"name": n, "package": p, "hooks": h} for n, p, h in found])
    elif found:
        rows = [[name, package or "-", ", ".join(hooks)] for name, package, hooks in found]
        click.echo(
            render.table(["PLUGIN", "PACKAGE", "HOOKS"], rows, terminal=common.is_terminal())
        )
    else:
        click.echo(f"no plugins installed (entry-point group {ENTRYPOINT_GROUP!r})", err=True)


@click.command("demo")
@click.option(
    "--path",
    default=None,
    help="Database for the demo: a file or a postgresql:// URL. Default: demo.db in the data "
    "directory (never your history).",
)
def demo_command(path: str | None) -> None:
    """Record a few example agent sessions, with a printing hook plugin, and list them."""
    # A plain string, not click.Path: a Path would fold a URL's '//' and make it a local file.
    where = (
        path
        if path is not None
        else str(platformdirs.user_data_path("session-history", appauthor=False) / "demo.db")
    )
    if not is_url(where):
        common.check_folders(Path(where).expanduser())
    try:
        location, summaries = run_demo(where, click.echo)
    except SessionHistoryError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("")
    click.echo(render.sessions_table(summaries))
    hidden = " (put your password back where the URL says ***)" if "***" in location else ""
    shown = render.visible(location)
    click.echo(f"\nStored in {shown}. Look closer with{hidden}:")
    click.echo(f"  session-history --db {shown} show {summaries[0].id}")
    click.echo(f"  session-history --db {shown} search umbrella")
