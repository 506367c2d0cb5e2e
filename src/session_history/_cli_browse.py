"""The CLI's reading commands: ``list``, ``show``, ``search`` and ``stats``.

Each opens the database read-only (:func:`~session_history._cli_common.open_store`): it creates,
migrates and writes nothing, so looking at a database never changes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import click

from . import _cli_common as common
from . import _render as render
from ._models import Session

__all__ = ["list_command", "search_command", "show_command", "stats_command"]


@click.command("list")
@click.option("--agent", callback=common.text, default=None, help="Only this agent's sessions.")
@click.option("--model", callback=common.text, default=None, help="Only sessions with this model.")
@click.option(
    "--since",
    callback=common.option_value(render.parse_when),
    help="Only sessions updated since then: 7d, 12h, 2026-01-31 or an ISO datetime.",
)
@click.option(
    "--until",
    callback=common.option_value(render.parse_when),
    help="Only sessions updated before then (same forms as --since).",
)
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1, max=common.MAX_COUNT),
    default=50,
    show_default=True,
    help="Sessions per page.",
)
@click.option(
    "--page",
    type=click.IntRange(min=1, max=common.MAX_COUNT),
    default=1,
    show_default=True,
    help="Which page.",
)
@click.option("--all", "show_all", is_flag=True, help="Every session, no paging.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@common.scope_option
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
    scope: str | None,
) -> None:
    """List sessions, most recently updated first."""
    if not show_all and (page - 1) * limit > common.MAX_COUNT:
        raise click.BadParameter(
            f"page {page} of {limit} sessions starts past the last one a database can count "
            f"({common.MAX_COUNT}); give a smaller --page or --limit",
            ctx=ctx,
            param_hint="'--page'",
        )
    with common.open_store(ctx) as history:
        summaries = history.list_sessions(
            limit=None if show_all else limit,
            offset=0 if show_all else (page - 1) * limit,
            agent_name=agent,
            model=model,
            updated_since=since,
            updated_until=until,
            scope=scope,
        )
    if as_json:
        common.echo_json([s.model_dump(mode="json") for s in summaries])
    elif summaries:
        click.echo(render.sessions_table(summaries, terminal=common.is_terminal()))
        if not show_all and len(summaries) == limit and common.is_terminal():
            click.echo(f"(page {page}; --page {page + 1} for more, or --all)", err=True)
    else:
        click.echo("no sessions" + (" on this page" if page > 1 else ""), err=True)


@click.command("show")
@click.argument("session_id", callback=common.text)
@click.option("--json", "as_json", is_flag=True, help="Print the session as JSON.")
@click.option("--markdown", is_flag=True, help="Print the session as Markdown.")
@common.scope_option
@click.pass_context
def show_command(
    ctx: click.Context, session_id: str, as_json: bool, markdown: bool, scope: str | None
) -> None:
    """Show one session: messages, tool calls and results, reasoning, usage."""
    if as_json and markdown:
        raise click.UsageError("--json and --markdown are two formats; give one of them")
    with common.open_store(ctx) as history:
        summary = history.get_summary(session_id, scope=scope)
        state = history.load_state(session_id, scope=scope) if summary is not None else None
        if summary is None or state is None:
            raise click.ClickException(
                f"no session with id {session_id!r}; 'session-history list' shows the stored ids"
            )
        # The messages are shown as they are read, a window at a time: memory stays flat
        # however long the session.
        session = Session(
            session_id=summary.id,
            agent_name=summary.agent_name,
            model=summary.model,
            started_at=summary.started_at,
            ended_at=summary.ended_at,
            usage=summary.usage,
            metadata=summary.metadata,
            scope=summary.scope,
            expires_at=summary.expires_at,
            state=state,
        )
        messages = history.iter_messages(session_id, scope=scope)
        if as_json:
            _echo_lines(render.json_lines(session, messages), end="\n")
        elif markdown:
            _echo_lines(line + "\n" for line in render.markdown_lines(session, messages))
        else:
            _echo_lines(line + "\n" for line in render.transcript(session, messages))


def _echo_lines(pieces: Iterable[str], *, end: str = "") -> None:
    """Write ``pieces`` about a MB at a time (one write each would cost more than making
    them), then ``end``."""
    batch: list[str] = []
    held = 0
    for piece in pieces:
        batch.append(piece)
        held += len(piece)
        if held >= 1 << 20:
            click.echo("".join(batch), nl=False)
            batch.clear()
            held = 0
    click.echo("".join(batch) + end, nl=False)


@click.command("search")
@click.argument("query", callback=common.text)
@click.option("--agent", callback=common.text, default=None, help="Only this agent's sessions.")
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1, max=common.MAX_COUNT),
    default=20,
    show_default=True,
    help="At most N hits.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@common.scope_option
@click.pass_context
def search_command(
    ctx: click.Context,
    query: str,
    agent: str | None,
    limit: int,
    as_json: bool,
    scope: str | None,
) -> None:
    """Search messages (content, reasoning, tool calls), best match first.

    QUERY is plain words, all of which must match, and "quoted phrases"; word* matches a prefix.
    """
    with common.open_store(ctx) as history:
        hits = history.search(
            query,
            agent_name=agent,
            scope=scope,
            limit=limit,
            highlight=("[", "]") if as_json else render.MARK,
        )
    if as_json:
        common.echo_json([hit.model_dump(mode="json") for hit in hits])
    elif hits:
        click.echo(render.hits_text(hits, terminal=common.is_terminal()))
    else:
        click.echo("no matches", err=True)


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@common.scope_option
@click.pass_context
def stats_command(ctx: click.Context, as_json: bool, scope: str | None) -> None:
    """Sessions, messages, tokens, per agent and model, and the database's size."""
    with common.open_store(ctx) as history:
        stats = history.stats(scope=scope)  # totals past a count's range show at its bound
    if as_json:
        common.echo_json(stats.model_dump(mode="json"))
    else:
        click.echo(render.stats_text(stats, terminal=common.is_terminal()))
