"""What every command of the CLI shares: opening the database, checking what people typed,
progress bars, JSON output.

A command opens the database in one of three ways (:func:`open_store`): ``"read"`` (read-only:
the file must be a database already, and nothing is created, migrated or written), ``"change"``
(writes to a database that must be there already) or ``"create"`` (writes, making the database,
and its missing folders saying so). So a command that only reads, or fails, leaves no file
behind; and no command turns an empty file, or ``/dev/null``, into a database.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import click

from ._config import DB_ENV_VAR, HistoryConfig
from ._errors import SessionHistoryError
from ._sync import SyncSessionHistory

__all__ = [
    "Mode",
    "echo_json",
    "is_terminal",
    "open_at",
    "open_store",
    "option_value",
    "progress",
    "text",
]

T = TypeVar("T")
Mode = Literal["read", "change", "create"]


def is_terminal() -> bool:
    """Whether standard output is a terminal (tables) rather than a pipe (plain text)."""
    return sys.stdout.isatty()


class _NoProgress:
    def update(self, n_steps: int) -> None:
        pass


@contextlib.contextmanager
def progress(length: int, label: str) -> Iterator[Any]:
    """A progress bar on standard error when it is a terminal; nothing at all otherwise."""
    if not sys.stderr.isatty() or length <= 0:
        yield _NoProgress()
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar


def option_value(
    parse: Callable[[str], T],
) -> Callable[[click.Context, click.Parameter, Any], T | None]:
    """A click callback that parses an option's text, turning ValueError into a usage error."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> T | None:
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None

    return callback


def text(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback for text given to the store (a query, a session id, an agent's name):
    refused, in one line, when the shell passed bytes that are not UTF-8 (Python keeps them as
    lone surrogates, which no database can take)."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = value[exc.start]
        # surrogateescape keeps each byte it could not decode as U+DC80..U+DCFF.
        is_byte = "\udc80" <= char <= "\udcff"
        what = f"byte 0x{ord(char) - 0xDC00:02x}" if is_byte else f"U+{ord(char):04X}"
        raise click.ClickException(
            f"{param.human_readable_name} is not valid UTF-8 text ({what} at position "
            f"{exc.start + 1}); type it in a UTF-8 terminal (a UTF-8 locale, such as "
            "LANG=C.UTF-8)"
        ) from None
    return value


def _config(where: str, mode: Mode) -> HistoryConfig:
    """A file path or a PostgreSQL URL, as HistoryConfig reads either."""
    return HistoryConfig.model_validate(
        {"enabled": True, "db_path": where, "read_only": mode == "read"}
    )


@contextlib.contextmanager
def open_at(where: str, mode: Mode) -> Iterator[SyncSessionHistory]:
    """The store at ``where`` (a file or a URL), opened for ``mode``; every
    :class:`~session_history.SessionHistoryError` on the way, or in the block, becomes a one-line
    error. Only ``"create"`` makes a database, and it says which missing folders it made for it,
    on standard error: a typo in a folder's name is seen at once."""
    try:
        config = _config(where, mode)
        path = config.db_path
        made: list[Path] = []
        if config.url is None and _absent(path):
            if mode != "create":
                raise click.ClickException(
                    f"no database at {path}; record sessions first, or point --db (or "
                    f"${DB_ENV_VAR}) at one"
                )
            made = _missing_folders(path)
        # An empty file, or /dev/null, is refused by the store itself, the same for every mode.
        with SyncSessionHistory(config) as history:
            if made:
                folders = ", ".join(str(folder) for folder in reversed(made))
                noun = "folder" if len(made) == 1 else "folders"
                click.echo(f"created the {noun} {folders} for the new database {path}", err=True)
            yield history
    except SessionHistoryError as exc:
        raise click.ClickException(str(exc)) from exc


def _absent(path: Path) -> bool:
    """Whether nothing is at ``path``; when that cannot be known (a folder that cannot be
    entered), the store says what is wrong."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def _missing_folders(path: Path) -> list[Path]:
    """The parents of ``path`` that do not exist, nearest first."""
    missing = []
    folder = path.parent
    while folder != folder.parent and _absent(folder):
        missing.append(folder)
        folder = folder.parent
    return missing


def open_store(
    ctx: click.Context, mode: Mode = "read"
) -> contextlib.AbstractContextManager[SyncSessionHistory]:
    """The store the command line names (``--db``), opened for ``mode``."""
    return open_at(ctx.find_root().obj, mode)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


scope_option = click.option(
    "--scope",
    callback=text,
    default=None,
    help="Only sessions of this scope (their owner: a user, tenant or channel).",
)
"""``--scope``, the same on every command that reads or changes sessions by owner."""
