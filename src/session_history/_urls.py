"""Database URLs: deciding "URL or file", checking them, hiding passwords, and our own ``schema``
parameter.

Kept apart from the backends so that the config, the CLI and the messages of every error can use
them without importing a driver. A URL is recognised on the string, before anything turns it into
a ``pathlib.Path`` (which folds ``//`` and would make ``postgresql://h/db`` a relative file).

Passwords are found by plain string rules rather than by ``urllib.parse``, so that they are hidden
in malformed URLs too (a bad port, an unclosed ``[``), which are exactly the ones errors quote.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

__all__ = [
    "DEFAULT_SCHEMA",
    "is_url",
    "redact_url",
    "scrub",
    "split_schema",
    "url_problem",
    "with_schema",
]

DEFAULT_SCHEMA = "session_history"
"""The PostgreSQL schema used when the URL does not say ``?schema=``."""

SCHEMES = ("postgres", "postgresql")

_SECRET_PARAMETERS = {"password", "passfile", "sslpassword"}
_HIDDEN = "***"
# A URL inside a longer text (a driver's message that echoes its DSN).
_HEAD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/*")
_URL_IN_TEXT = re.compile(r"\b(?:postgres|postgresql)://[^\s'\"]*", re.IGNORECASE)


def is_url(value: str) -> bool:
    """Whether a database "path" is a PostgreSQL URL (the one place this is decided)."""
    return value.split(":", 1)[0].lower() in SCHEMES


def _split(url: str) -> tuple[str, str, str, str]:
    """``(scheme and slashes, netloc, path, query and fragment)`` by string rules alone. Any
    number of slashes may follow the scheme: a URL that went through a ``Path`` has one."""
    match = _HEAD.match(url)
    if match is None:
        return "", "", url, ""
    head, rest = match.group(0), url[match.end() :]
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:end], rest[end:]
    path, mark, query = tail.partition("?")
    return head, netloc, path, mark + query


def redact_url(url: str) -> str:
    """The URL without its password, in the netloc or in the query, for messages and reprs."""
    head, netloc, path, query = _split(url)
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:{_HIDDEN}@{hosts}"
    if query:
        params, hash_, fragment = query[1:].partition("#")
        parts = []
        for param in params.split("&"):
            key, eq, _ = param.partition("=")
            parts.append(f"{key}={_HIDDEN}" if eq and unquote(key) in _SECRET_PARAMETERS else param)
        query = "?" + "&".join(parts) + hash_ + fragment
    return head + netloc + path + query


def _secrets(url: str) -> set[str]:
    """The secret values in ``url``, as written and percent-decoded."""
    _, netloc, _, query = _split(url)
    found: set[str] = set()
    userinfo, at, _ = netloc.rpartition("@")
    if at and ":" in userinfo:
        found.add(userinfo.split(":", 1)[1])
    for param in query[1:].partition("#")[0].split("&"):
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
    would send it to the server as a setting."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((value for key, value in query if key == "schema"), DEFAULT_SCHEMA)
    rest = [(key, value) for key, value in query if key != "schema"]
    return urlunsplit(parts._replace(query=urlencode(rest))), schema


def with_schema(url: str, schema: str) -> str:
    """``url`` naming PostgreSQL schema ``schema`` (how tests give each run a schema of its own)."""
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"
