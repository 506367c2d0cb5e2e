"""Database URLs: deciding "URL or file", hiding passwords, and our own ``schema`` parameter.

Kept apart from the backends so that the config, the CLI and the messages of every error can use
them without importing a driver. A URL is recognised on the string, before anything turns it into
a ``pathlib.Path`` (which folds ``//`` and would make ``postgresql://h/db`` a relative file).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["DEFAULT_SCHEMA", "is_url", "redact_url", "split_schema", "with_schema"]

DEFAULT_SCHEMA = "session_history"
"""The PostgreSQL schema used when the URL does not say ``?schema=``."""

SCHEMES = ("postgres", "postgresql")

_SECRET_PARAMETERS = {"password", "passfile", "sslpassword"}


def is_url(value: str) -> bool:
    """Whether a database "path" is a PostgreSQL URL (the one place this is decided)."""
    return value.split(":", 1)[0].lower() in SCHEMES


def redact_url(url: str) -> str:
    """The URL without its password, in the netloc or in the query, for messages and reprs."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<a malformed URL>"
    netloc = parts.netloc
    if password is not None:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key in _SECRET_PARAMETERS for key, _ in query):
        query = [(key, "***" if key in _SECRET_PARAMETERS else value) for key, value in query]
        return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="*")))
    return urlunsplit(parts._replace(netloc=netloc))


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
