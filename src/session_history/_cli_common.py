"""What every command of the CLI shares: opening the database, checking what people typed,
progress bars, JSON output.

Every failure ends the same way (:func:`one_line_errors`): one line on standard error saying what
is wrong and what to do, exit status 1 (2 for a mistake in how the command was typed, with the
command's ``-h`` named instead of click's usage lines), and never a traceback: an error the code
did not foresee is reported as a bug in one line too (``SESSION_HISTORY_DEBUG=1`` shows its
traceback instead).

A command opens the database in one of three ways (:func:`open_store`): ``"read"`` (read-only:
the file must be a database already, and nothing is created, migrated or written), ``"change"``
(writes to a database that must be there already) or ``"create"`` (writes, making the database,
and its missing folders saying so). So a command that only reads, or fails, leaves no file
behind; and no command turns an empty file, or ``/dev/null``, into a database.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import click

from ._config import DB_ENV_VAR, HistoryConfig
from ._errors import SessionHistoryError
from ._render import json_text, visible
from ._sync import SyncSessionHistory
from ._urls import is_url, scrub

__all__ = [
    "DEBUG_ENV_VAR",
    "MAX_COUNT",
    "Mode",
    "OneLineError",
    "OneLineUsageError",
    "check_folders",
    "echo_json",
    "is_terminal",
    "one_line_errors",
    "open_at",
    "open_store",
    "option_value",
    "os_problem",
    "progress",
    "text",
]

T = TypeVar("T")
Mode = Literal["read", "change", "create"]
MAX_COUNT = 2**63 - 1
"""The largest count, limit or offset a database takes (SQLite's and PostgreSQL's 64-bit
integers): a larger one is refused as the command line is read."""
DEBUG_ENV_VAR = "SESSION_HISTORY_DEBUG"
"""Set (to anything but empty), an unforeseen error shows its traceback rather than one line."""


class OneLineError(click.ClickException):
    """What every failure of a command becomes: one line, control characters escaped, so that
    neither a message's own line breaks nor a stored id's escape sequences reach the terminal."""

    def __init__(self, message: str) -> None:
        super().__init__(visible(message))


class OneLineUsageError(OneLineError):
    """A mistake in the command line itself, in one line: exit status 2, as click's own."""

    exit_code = 2


@contextlib.contextmanager
def one_line_errors(argv: list[str], command: str) -> Iterator[None]:
    """Turn what ``command`` raises into a :class:`OneLineError`. ``argv`` is its command line,
    so that a URL's password typed in it is hidden in the text of an unforeseen error."""
    try:
        yield
    except OneLineError:
        raise
    except click.UsageError as exc:
        # Instead of click's usage lines and "Try ... for help": the same pointer, in the line.
        where = exc.ctx.command_path if exc.ctx is not None else command
        message = _with_os_advice(exc).rstrip(".")
        raise OneLineUsageError(f"{message}; see '{where} -h'") from None
    except click.ClickException as exc:
        raise OneLineError(_with_os_advice(exc)) from None
    except (click.exceptions.Exit, click.Abort):
        raise
    except OSError as exc:
        if exc.errno == errno.EPIPE:  # the reader went away (| head): click's own quiet exit
            raise
        raise OneLineError(os_problem(exc)) from None
    except Exception as exc:
        if os.environ.get(DEBUG_ENV_VAR):
            raise
        text = f"{type(exc).__name__}: {exc}"
        for arg in argv:
            if is_url(arg):
                text = scrub(text, arg)
        raise OneLineError(
            f"unexpected error ({text}); this is a bug of session-history: please report it "
            f"with the command you ran ({DEBUG_ENV_VAR}=1 shows where it happened)"
        ) from None


def _with_os_advice(exc: click.ClickException) -> str:
    """The message of click's own error about a file it could not open (``click.File``), its
    path shortened and the advice of :func:`os_problem` added."""
    message = exc.format_message()
    cause = exc.__cause__ or exc.__context__
    if not isinstance(cause, OSError) or cause.errno == errno.ENOENT:
        return message
    if cause.filename is not None:
        name = os.fsdecode(cause.filename)
        message = message.replace(name, _short(name))
    return f"{message.rstrip('.')}; {os_problem(cause).partition('; ')[2]}"


def os_problem(exc: OSError, path: object = None) -> str:
    """What the system refused, and what to do, for a person: the file, the reason, the fix."""
    where = _short(path if path is not None else exc.filename)
    reason = exc.strerror or str(exc)
    advice = {
        errno.ENAMETOOLONG: "a name in the path is longer than the file system allows "
        "(usually 255 bytes), or the whole path is: choose a shorter one",
        errno.EACCES: "you may not enter a folder on the way or use the file: choose a path you "
        "own, or ask for access",
        errno.EPERM: "the system does not allow it: choose another path",
        errno.ENOSPC: "the disk is full: free some space, or write elsewhere",
        errno.EDQUOT: "your disk quota is used up: free some space, or write elsewhere",
        errno.EROFS: "the file system is read-only: write elsewhere",
        errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
        errno.EISDIR: "it is a folder: name a file in it",
        errno.ELOOP: "the path loops through symbolic links: check them",
        errno.ENOENT: "check the path",
    }.get(exc.errno or 0, "check the path and try again")
    return f"cannot use {where} ({reason}); {advice}" if where else f"{reason}; {advice}"


def _short(path: object) -> str:
    """A path as an error shows it: whole when it fits in a line, else its two ends."""
    if path is None:
        return ""
    text = os.fsdecode(path) if isinstance(path, str | bytes | os.PathLike) else str(path)
    return text if len(text) <= 120 else f"{text[:60]}...{text[-50:]} ({len(text)} characters)"


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
                    f"no database at {_short(path)}; record sessions first, or point --db (or "
                    f"${DB_ENV_VAR}) at one"
                )
            check_folders(path)
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
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise
        # A path the system refuses (a name over 255 bytes, a folder one may not enter): said
        # before any database was opened.
        raise OneLineError(os_problem(exc)) from exc


MAX_NEW_FOLDERS = 100
"""How many missing folders a command that creates a database makes on the way to it: more is
surely a mistaken path (and more than a thousand is more than Python's mkdir can make)."""


def check_folders(path: Path) -> None:
    """Refuse, in one line, a database path whose making would need more than
    :data:`MAX_NEW_FOLDERS` folders."""
    missing = 0
    for parent in path.parents:
        if parent.exists():
            break
        missing += 1
    if missing > MAX_NEW_FOLDERS:
        raise OneLineError(
            f"cannot create {_short(path)}: {missing} folders on the way to it are missing "
            f"(more than {MAX_NEW_FOLDERS}); check the path, or create the folders first"
        )


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
    """``value`` as JSON: every character kept, none that a terminal would act on."""
    click.echo(json_text(json.dumps(value, indent=2, ensure_ascii=False)))


scope_option = click.option(
    "--scope",
    callback=text,
    default=None,
    help="Only sessions of this scope (their owner: a user, tenant or channel).",
)
"""``--scope``, the same on every command that reads or changes sessions by owner."""
