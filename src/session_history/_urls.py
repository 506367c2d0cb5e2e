"""Database URLs: deciding what a database "path" names (a PostgreSQL URL, an SQLite file, or
something refused), checking URLs, hiding passwords, and our own ``schema`` parameter.

Kept apart from the backends so that the config, the CLI and the messages of every error can use
them without importing a driver. What a value names is decided on the string (:func:`resolve`),
before anything turns it into a ``pathlib.Path`` (which folds ``//`` and would make
``postgresql://h/db`` a relative file): a form we do not take is refused, never written to as a
file named after it.

Passwords are found by plain string rules rather than by ``urllib.parse``, so that they are hidden
in malformed URLs too (a bad port, an unclosed ``[``, a password with an unencoded ``/``, ``?``,
``#`` or ``@``), which are exactly the ones errors quote. Where the rules cannot tell a password
from the rest of the URL they hide more, never less.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

__all__ = [
    "ACCEPTED",
    "DEFAULT_SCHEMA",
    "TargetError",
    "is_url",
    "redact_url",
    "resolve",
    "scrub",
    "split_schema",
    "url_problem",
    "with_schema",
]

DEFAULT_SCHEMA = "session_history"
"""The PostgreSQL schema used when the URL does not say ``?schema=``."""

SCHEMES = ("postgres", "postgresql")
"""The schemes asyncpg takes as they are."""
DRIVER_SCHEMES = ("postgresql+asyncpg", "postgresql+psycopg", "postgresql+psycopg2")
"""SQLAlchemy's spellings (LangChain users have them), taken as ``postgresql://``."""
SQLITE_SCHEMES = ("sqlite", "sqlite+aiosqlite", "sqlite+pysqlite")
"""SQLAlchemy's SQLite URLs: ``sqlite:///relative.db``, ``sqlite:////absolute.db``."""

ACCEPTED = (
    "give a PostgreSQL URL (postgresql://, postgres://, postgresql+asyncpg://, "
    "postgresql+psycopg:// or postgresql+psycopg2://), an SQLite file as sqlite:///PATH or "
    "file:PATH, or a plain file path"
)
"""The forms a database may be given in, for the messages that refuse another."""

_SECRET_PARAMETERS = {"password", "passfile", "sslpassword"}
_HIDDEN = "***"
# A scheme: two characters at least, so that a Windows drive (C:\\...) stays a path.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")
_HEAD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/*")
# A URL inside a longer text (a driver's message that echoes its DSN).
_URL_IN_TEXT = re.compile(r"\b(?:postgres|postgresql)(?:\+\w+)?://[^\s'\"]*", re.IGNORECASE)
# What a host list looks like (h, h:5432, [::1]:5432, h1,h2:5433): a netloc that is one holds
# no password, so an '@' after its '?' belongs to the query.
_HOSTS = re.compile(r"(?:\[[^\]]*\]|[^:\[\]@,]*)(?::\d*)?(?:,(?:\[[^\]]*\]|[^:\[\]@,]*)(?::\d*)?)*")
# libpq's keyword form: host=... dbname=... password='...'
_KEYWORD = re.compile(r"\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)")
_KEYWORDS = {
    "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "sslmode",
    "sslpassword", "connect_timeout", "application_name", "options", "service",
    "target_session_attrs",
}  # fmt: skip


class TargetError(ValueError):
    """A database "path" in a form that is refused; the message is one line, secrets hidden."""


def _scheme(value: str) -> str | None:
    match = _SCHEME.match(value)
    return match.group(1).lower() if match else None


def is_url(value: str) -> bool:
    """Whether a database "path" is a PostgreSQL URL, in any of the accepted spellings."""
    return _scheme(value) in (*SCHEMES, *DRIVER_SCHEMES)


def resolve(value: str) -> tuple[Literal["url", "file"], str]:
    """What a database "path" names: ``("url", the URL as asyncpg takes it)`` or ``("file",
    its path)``; :class:`TargetError` for an empty value and any form not in :data:`ACCEPTED`
    (a libpq keyword DSN, ``mysql://``, any other scheme), rather than a file named after it."""
    if not value:
        raise TargetError(f"the database path is empty; {ACCEPTED}")
    scheme = _scheme(value)
    if scheme in SCHEMES:
        return "url", value
    if scheme in DRIVER_SCHEMES:
        return "url", "postgresql" + value[len(scheme) :]
    if scheme in SQLITE_SCHEMES:
        return "file", _sqlite_url_path(value, scheme)
    if scheme == "file":
        return "file", _file_uri_path(value)
    if scheme is not None and value[len(scheme) + 1 :].startswith("/"):
        raise TargetError(
            f"cannot use {redact_url(value)!r}: session-history does not store in {scheme}:// "
            f"databases; {ACCEPTED}"
        )
    if _is_keyword_dsn(value):
        raise TargetError(
            f"cannot use {redact_url(value)!r}: libpq's keyword form (host=... dbname=...) is not "
            f"taken, write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE; {ACCEPTED}"
        )
    return "file", value


def _sqlite_url_path(url: str, scheme: str) -> str:
    rest = url[len(scheme) + 1 :]
    shown = redact_url(url)
    if not rest.startswith("//"):
        raise TargetError(
            f"cannot use {shown!r}: '//' is missing after '{scheme}:' (a pathlib.Path folds '//' "
            "into '/': give the URL as a string); write sqlite:///relative.db or "
            "sqlite:////absolute/path.db"
        )
    host, slash, path = rest[2:].partition("/")
    if host or not slash:
        raise TargetError(
            f"cannot use {shown!r}: an SQLite URL names no host; write sqlite:///relative.db or "
            "sqlite:////absolute/path.db"
        )
    return _sqlite_file(path, shown)


def _file_uri_path(uri: str) -> str:
    rest = uri[len("file:") :]
    shown = redact_url(uri)
    if rest.startswith("//"):
        host, slash, path = rest[2:].partition("/")
        if host.lower() not in ("", "localhost"):
            raise TargetError(
                f"cannot use {shown!r}: a file: URI names a file on this machine, not on "
                f"{host!r}; write file:/absolute/path.db or a plain path"
            )
        rest = slash + path
    # SQLite decodes a file: URI's %HH escapes (file:my%20notes.db is "my notes.db").
    return unquote(_sqlite_file(rest, shown))


def _sqlite_file(path: str, shown: str) -> str:
    if "?" in path or "#" in path:
        raise TargetError(
            f"cannot use {shown!r}: URI parameters (?mode=..., #...) are not taken; give the "
            "file alone, and HistoryConfig(read_only=True) to only read it"
        )
    if path == "" or path.startswith(":memory:"):
        raise TargetError(
            f"cannot use {shown!r}: it names no file (an in-memory database would keep nothing); "
            "give the path of a database file"
        )
    return path


def _is_keyword_dsn(value: str) -> bool:
    """Whether ``value`` starts as libpq's keyword form does (``host=``, ``dbname=``...)."""
    match = _KEYWORD.match(value)
    return match is not None and match.group(1).lower() in _KEYWORDS


def _split(url: str) -> tuple[str, str, str, str]:
    """``(scheme and slashes, netloc, path, query and fragment)`` as a driver reads them, by
    string rules alone. Any number of slashes may follow the scheme: a URL that went through a
    ``Path`` has one."""
    match = _HEAD.match(url)
    if match is None:
        return "", "", url, ""
    head, rest = match.group(0), url[match.end() :]
    end = _first(rest, "/?#")
    netloc, tail = rest[:end], rest[end:]
    path, mark, query = tail.partition("?")
    return head, netloc, path, mark + query


def _first(text: str, chars: str, start: int = 0) -> int:
    """Where the first of ``chars`` is in ``text`` from ``start``, or its length."""
    return min((i for i in (text.find(c, start) for c in chars) if i >= 0), default=len(text))


def _split_secret(url: str) -> tuple[str, str, str, str]:
    """Like :func:`_split`, but with the userinfo ending at the ``@`` most likely to end it
    when the password holds ``/``, ``?``, ``#`` or ``@`` unencoded: the last ``@`` before the
    first ``?`` or ``#`` after the first ``@``. A URL with no ``:`` before its first ``@`` has
    no password, and a netloc that is a plain host list followed by a query holding an ``@``
    (``?application_name=me@host``) none either: both are read as a driver reads them."""
    match = _HEAD.match(url)
    if match is None:
        return "", "", url, ""
    head, rest = match.group(0), url[match.end() :]
    first = rest.find("@")
    if (
        first < 0
        or ":" not in rest[:first]
        or (first > _first(rest, "?#") and _HOSTS.fullmatch(rest[: _first(rest, "/?#")]))
    ):
        return _split(url)
    at = rest.rfind("@", 0, _first(rest, "?#", first))
    end = _first(rest, "/?#", at)
    netloc, tail = rest[:end], rest[end:]
    path, mark, query_text = tail.partition("?")
    return head, netloc, path, mark + query_text


def redact_url(url: str) -> str:
    """The URL without its password, in the netloc or in the query, for messages and reprs (a
    libpq keyword DSN's ``password=`` too)."""
    head, netloc, path, query = _split_secret(url)
    if not head:
        return _KEYWORD.sub(_hide_keyword, url) if "=" in url else url
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:{_HIDDEN}@{hosts}"
    if query:
        parts = []
        # Up to the next '&' only: a '#' in a password is not the start of a fragment here.
        for param in query[1:].split("&"):
            key, eq, _ = param.partition("=")
            parts.append(f"{key}={_HIDDEN}" if eq and unquote(key) in _SECRET_PARAMETERS else param)
        query = "?" + "&".join(parts)
    return head + netloc + path + query


def _hide_keyword(match: re.Match[str]) -> str:
    key = match.group(1)
    if key.lower() not in _SECRET_PARAMETERS:
        return match.group(0)
    return match.group(0)[: match.start(2) - match.start(0)] + _HIDDEN


def _secrets(url: str) -> set[str]:
    """The secret values in ``url``, as written and percent-decoded."""
    head, netloc, _, query = _split_secret(url)
    found: set[str] = set()
    if not head:
        for match in _KEYWORD.finditer(url):
            if match.group(1).lower() in _SECRET_PARAMETERS:
                found.update((match.group(2), match.group(2).strip("'")))
    userinfo, at, _ = netloc.rpartition("@")
    if at and ":" in userinfo:
        found.add(userinfo.split(":", 1)[1])
    for param in query[1:].split("&"):
        key, eq, value = param.partition("=")
        if eq and unquote(key) in _SECRET_PARAMETERS:
            found.add(value)
    return {form for secret in found for form in (secret, unquote(secret)) if form}


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's message, say) with every secret of ``url`` replaced by ``***`` and
    every URL in it redacted: what may be shown of an error about ``url``."""
    for secret in sorted(_secrets(url), key=len, reverse=True):
        text = text.replace(secret, _HIDDEN)
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)


def url_problem(url: str) -> str | None:
    """What makes ``url`` unusable as a PostgreSQL URL, in words, or None when it looks right.

    Only what is certainly wrong: a driver accepts much (every part may be left out), and the
    server judges the rest.
    """
    scheme, _, rest = url.partition(":")
    if not rest.startswith("//"):
        return (
            f"'//' is missing after '{scheme}:' (a pathlib.Path folds '//' into '/': give the "
            "URL as a string, not a Path)"
        )
    if _split(url)[1] != _split_secret(url)[1]:
        # A driver would read part of the password as the host or the port: say that, and
        # never the part it would misread (the "the port 'S3cr3tPw'").
        return (
            "an unencoded '@', '/', '?' or '#' in or after its password would make a driver read "
            "part of the password as the host or port; percent-encode them (%40, %2F, %3F, %23)"
        )
    try:
        urlsplit(url)
    except ValueError as exc:
        return str(exc)
    _, netloc, _, _ = _split(url)
    for host in netloc.rpartition("@")[2].split(","):
        if host.startswith("["):
            _, bracket, after = host[1:].partition("]")
            if not bracket or (after and not after.startswith(":")):
                return f"the IPv6 address in {host!r} is not closed by ']'"
            has_port, port = after, after[1:]
        else:
            _, has_port, port = host.rpartition(":")
        if has_port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            return f"the port {port!r} is not a number from 1 to 65535"
    return None


def split_schema(url: str) -> tuple[str, str]:
    """``(dsn, schema)``: our own ``schema`` parameter taken out of the URL, since the driver
    would send it to the server as a setting. SQLAlchemy's spellings become ``postgresql://``,
    which is what the driver takes."""
    if is_url(url):
        url = resolve(url)[1]
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((value for key, value in query if key == "schema"), DEFAULT_SCHEMA)
    rest = [(key, value) for key, value in query if key != "schema"]
    return urlunsplit(parts._replace(query=urlencode(rest))), schema


def with_schema(url: str, schema: str) -> str:
    """``url`` naming PostgreSQL schema ``schema`` (how tests give each run a schema of its own)."""
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"
