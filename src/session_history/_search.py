"""Search queries as people type them: plain words and "quoted phrases", no FTS syntax needed.

A query is parsed into terms here, once, and each backend renders the terms in its own syntax
(FTS5 on SQLite), so no user text ever reaches the engine's query parser unquoted: a stray
``AND``, ``*`` or ``(`` is just a word, and a malformed query is our clear error, not a crash.

Rules: terms are words or double-quoted phrases; every term must match (AND); a word ending in
``*`` matches as a prefix (``deploy*`` finds "deployment").
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass

from ._errors import InvalidQueryError
from ._models import ChatMessage

__all__ = ["Term", "fold", "fts5_query", "parse_query", "search_text"]

_TOKEN = re.compile(r'"([^"]*)"(\*?)|([^\s"]+)')


@dataclass(frozen=True)
class Term:
    text: str
    phrase: bool = False
    prefix: bool = False


def parse_query(query: str) -> list[Term]:
    """The terms of ``query``; InvalidQueryError when there is nothing to search for."""
    if query.count('"') % 2:
        raise InvalidQueryError(
            f"unbalanced quote in search query {query!r}; close the phrase with another '\"'"
        )
    terms: list[Term] = []
    for match in _TOKEN.finditer(query):
        phrase, phrase_star, word = match.groups()
        if phrase is not None:
            if phrase.strip():
                terms.append(Term(phrase.strip(), phrase=True, prefix=bool(phrase_star)))
        elif word.endswith("*") and word.strip("*"):
            terms.append(Term(word.rstrip("*"), prefix=True))
        elif word.strip("*"):
            terms.append(Term(word))
    if not terms:
        raise InvalidQueryError(
            f'search query {query!r} has no words to search for; try a word or a "quoted phrase"'
        )
    return terms


def fts5_query(terms: list[Term]) -> str:
    """The terms as an SQLite FTS5 query: each one a quoted string, so taken literally."""
    return " ".join(
        '"' + term.text.replace('"', '""') + '"' + ("*" if term.prefix else "") for term in terms
    )


def search_text(message: ChatMessage) -> str:
    """What a message is found by: its content, reasoning, and tool calls' names and arguments."""
    parts = [message.content or "", message.reasoning or ""]
    for call in message.tool_calls or []:
        parts += [call.name, json.dumps(call.arguments, ensure_ascii=False)]
    return " ".join(part for part in parts if part)


def fold(text: str) -> str:
    """Lower case without accents ("Café" -> "cafe"), for engines that do not fold them."""
    lowered = text.lower()
    if lowered.isascii():
        # Most text; NFKD leaves ASCII as it is. 0.3 us instead of 21 for 300 characters.
        return lowered
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(c for c in decomposed if not unicodedata.combining(c))
