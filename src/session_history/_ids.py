"""What a session id may be: one rule for every backend, checked before any I/O.

A session id is a non-empty string of at most :data:`MAX_ID_BYTES` bytes in UTF-8, without the
NUL character (U+0000) and without lone surrogates (text that has no UTF-8 form). The limit is
the stricter backend's, so that an id one backend stores every other stores too: PostgreSQL's
text cannot hold NUL, and its unique index refuses a key over about 2,700 bytes, which SQLite
would store; 1,024 leaves room and is still far beyond any id a framework mints (UUIDs, ULIDs,
``user:thread`` keys). A longer natural key can be hashed into an id.
"""

from __future__ import annotations

from ._errors import InvalidQueryError

__all__ = ["MAX_ID_BYTES", "check_session_id", "valid_session_id"]

MAX_ID_BYTES = 1024
"""The longest session id, in UTF-8 bytes."""

RULE = (
    f"a session id is a non-empty string of at most {MAX_ID_BYTES:,} UTF-8 bytes, without NUL "
    "(U+0000) and without lone surrogates"
)


def check_session_id(value: str) -> str:
    """``value`` if it is a session id every backend can store, else :class:`InvalidQueryError`
    naming the rule it breaks."""
    if not isinstance(value, str):
        raise InvalidQueryError(f"{RULE}; got {type(value).__name__} {_shown(value)}")
    if not value:
        raise InvalidQueryError(f"{RULE}; got the empty string")
    if "\x00" in value:
        raise InvalidQueryError(f"{RULE}; {_shown(value)} contains NUL (U+0000)")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidQueryError(
            f"{RULE}; {_shown(value)} contains a lone surrogate (text decoded with "
            "surrogateescape, say): decode it from UTF-8"
        ) from None
    if size > MAX_ID_BYTES:
        raise InvalidQueryError(
            f"{RULE}; {_shown(value)} is {size:,} bytes: hash a longer key into an id"
        )
    return value


def _shown(value: object, limit: int = 40) -> str:
    """A short repr for the message: an id of a megabyte is not printed whole."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}...' ({len(str(value)):,} characters)"


def valid_session_id(value: str) -> str:
    """:func:`check_session_id` for pydantic models: the same rule, raised as the ``ValueError``
    that pydantic reports in its ``ValidationError``
    (``session_id: Annotated[str, AfterValidator(valid_session_id)]``)."""
    try:
        return check_session_id(value)
    except InvalidQueryError as exc:
        raise ValueError(str(exc)) from None
