"""Full-text search, stats, and lossless export and import."""

from __future__ import annotations

from pathlib import Path

import pytest

from session_history import (
    ChatMessage,
    HistoryConfig,
    InvalidQueryError,
    SessionHistory,
    ToolCall,
    Usage,
)
from session_history._search import MAX_TOKENS, fold

from .helpers import full_message, session, text, turn
from .test_search_index import indexed_ids, stored_ids


async def _corpus(session_history: SessionHistory) -> None:
    await session_history.create_session(
        session(
            "weather",
            agent_name="travel",
            messages=[
                text("user", "Will it rain in Lisbon tomorrow?"),
                ChatMessage(
                    role="assistant",
                    reasoning="I should check the forecast service",
                    tool_calls=[
                        ToolCall(id="c1", name="get_forecast", arguments={"city": "Lisbon"})
                    ],
                ),
                ChatMessage(role="tool", tool_call_id="c1", content='{"rain": 0.7}'),
                text("assistant", "Rain is likely in Lisbon: take an umbrella, rain or shine."),
            ],
        )
    )
    await session_history.create_session(
        session(
            "deploy",
            agent_name="ops",
            messages=[
                text("user", "Roll back the deployment of the café service"),
                text("assistant", "Rolled back to version 41."),
            ],
        )
    )


async def test_search_finds_content_reasoning_and_tool_calls(
    session_history: SessionHistory,
) -> None:
    await _corpus(session_history)
    (by_reasoning,) = await session_history.search("forecast service")
    assert (by_reasoning.session_id, by_reasoning.seq, by_reasoning.role) == (
        "weather",
        1,
        "assistant",
    )
    (by_tool_name,) = await session_history.search("get_forecast")
    assert by_tool_name.seq == 1
    (by_argument,) = await session_history.search("Lisbon", agent_name="travel", limit=1)
    assert by_argument.agent_name == "travel"
    hits = await session_history.search("Lisbon")
    assert {(h.session_id, h.seq) for h in hits} == {("weather", 0), ("weather", 1), ("weather", 3)}


async def test_search_ranks_best_first_and_marks_matches(session_history: SessionHistory) -> None:
    await session_history.create_session(
        session(
            "ranked",
            messages=[
                text("user", "storm warning issued for the northern coast today"),
                text("assistant", "storm storm storm: the coast expects heavy winds today"),
                text("user", "no weather words in this message of similar length at all"),
            ],
        )
    )
    hits = await session_history.search("storm")
    assert [h.seq for h in hits] == [1, 0]  # more mentions at the same length rank higher
    assert hits[0].rank > hits[1].rank
    assert "[storm]" in hits[0].snippet
    custom = await session_history.search("coast", highlight=("<b>", "</b>"))
    assert all("<b>coast</b>" in h.snippet for h in custom)


async def test_search_phrases_prefixes_and_accents(session_history: SessionHistory) -> None:
    await _corpus(session_history)
    assert [h.seq for h in await session_history.search('"take an umbrella"')] == [3]
    assert await session_history.search('"umbrella take"') == []
    assert [h.session_id for h in await session_history.search("deploy*")] == ["deploy"]
    assert [h.session_id for h in await session_history.search("cafe")] == ["deploy"]  # café
    assert await session_history.search("Lisbon deployment") == []  # every word must match


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Plain ASCII, Mixed Case", "plain ascii, mixed case"),
        ("Café Crème ÅNGSTRÖM", "cafe creme angstrom"),
        ("\ufb01ne \uff26\uff55\uff4c\uff4c", "fine full"),  # compatibility forms (NFKD) fold too
        ("naïve 日本語", "naive 日本語"),  # letters without accents are kept
    ],
)
def test_fold_lowers_and_strips_accents(raw: str, folded: str) -> None:
    """PostgreSQL's search index is built on this folding (SQLite's tokenizer does its own)."""
    assert fold(raw) == folded


@pytest.mark.parametrize(
    "query", ['"unclosed phrase', "", "   ", "***", '""', "\x00", "!?", "broken \ud800 text"]
)
async def test_malformed_queries_are_clear_errors(
    session_history: SessionHistory, query: str
) -> None:
    with pytest.raises(InvalidQueryError, match="search query") as raised:
        await session_history.search(query)
    assert "writ" not in str(raised.value)  # a read's error says nothing of writes


async def test_query_size_is_bounded_the_same_on_every_backend(
    session_history: SessionHistory,
) -> None:
    await session_history.create_session(session("s", messages=[text("user", "w1 w2 w3")]))
    words = [f"w{i}" for i in range(1, MAX_TOKENS + 1)]
    assert await session_history.search(" ".join(words)) == []  # the most allowed still runs
    assert await session_history.search(f'"{" ".join(words[:3])}"') != []
    with pytest.raises(InvalidQueryError, match=f"at most {MAX_TOKENS}"):
        await session_history.search(" ".join(f"w{i}" for i in range(20_000)))
    with pytest.raises(InvalidQueryError, match=f"at most {MAX_TOKENS}"):
        await session_history.search('"' + " ".join([*words, "one-more"]) + '"')


async def test_words_with_punctuation_mean_the_same_on_every_backend(
    session_history: SessionHistory,
) -> None:
    """A word that holds several tokens matches them next to each other, as a phrase does."""
    messages = [
        text("user", "the content x here"),
        text("user", "x comes before content"),
        text("user", "content:x"),
        text("user", "send an e-mail"),
        text("user", "e mail is two words"),
        text("user", "email is one"),
    ]
    await session_history.create_session(session("s", messages=messages))

    async def seqs(query: str) -> list[int]:
        return sorted(h.seq for h in await session_history.search(query))

    assert await seqs("content:x") == [0, 2]
    assert await seqs('"content x"') == [0, 2]
    assert await seqs("content x") == [0, 1, 2]
    assert await seqs("e-mail") == [3, 4]
    assert await seqs("email") == [5]
    assert await seqs("e-ma*") == [3, 4]


@pytest.mark.parametrize(
    "query", ["AND", "rain OR", "NEAR(rain", "col:rain", "rain -shine", "^rain"]
)
async def test_search_syntax_characters_are_plain_text(
    session_history: SessionHistory, query: str
) -> None:
    await _corpus(session_history)
    hits = await session_history.search(query)  # no crash; each word taken literally
    assert all(h.session_id == "weather" for h in hits)


async def test_the_index_follows_deletes_saves_and_prunes(session_history: SessionHistory) -> None:
    await _corpus(session_history)
    await session_history.delete_session("deploy")
    assert await session_history.search("café") == []
    await session_history.save_session(session("weather", messages=[text("user", "sunny now")]))
    assert await session_history.search("Lisbon") == []
    assert [h.session_id for h in await session_history.search("sunny")] == ["weather"]
    await session_history.append_messages("weather", [text("assistant", "sunny indeed")])
    assert len(await session_history.search("sunny")) == 2
    await session_history.prune(max_sessions=0)
    assert await session_history.search("sunny") == []


@pytest.mark.session_history(backends=["sqlite"])  # FTS5 internals; PostgreSQL indexes a column
async def test_the_index_holds_exactly_the_stored_messages(
    session_history: SessionHistory, session_history_db: Path
) -> None:
    await _corpus(session_history)
    await session_history.append_messages("weather", turn(5))
    await session_history.save_session(session("weather", messages=[text("user", "replaced")]))
    await session_history.save_session(session("deploy", messages=[]))
    await session_history.create_session(session("third", messages=turn(1)))
    await session_history.delete_session("third")
    await session_history.create_session(session("fourth", messages=turn(2)))
    await session_history.prune(max_sessions=2)
    await session_history.import_jsonl([line async for line in session_history.export_jsonl()])
    await session_history.search("anything")  # the index catches up before a search
    stored = stored_ids(session_history_db)
    assert indexed_ids(session_history_db) == stored and len(stored) == 4  # "fourth", "deploy"


async def test_stats(session_history: SessionHistory) -> None:
    await session_history.create_session(
        session(
            "a",
            agent_name="x",
            model="m1",
            messages=turn(0),
            usage=Usage(input_tokens=10, output_tokens=5, total_tokens=15),
        )
    )
    await session_history.create_session(session("b", agent_name="x", model="m2", messages=turn(1)))
    await session_history.create_session(session("c", agent_name="y", model="m1"))
    stats = await session_history.stats()
    assert (stats.sessions, stats.messages, stats.turns, stats.tool_calls) == (3, 8, 2, 2)
    assert (stats.input_tokens, stats.output_tokens, stats.total_tokens) == (10, 5, 15)
    assert stats.sessions_by_agent == {"x": 2, "y": 1}
    assert stats.sessions_by_model == {"m1": 2, "m2": 1}
    assert stats.size_bytes and stats.size_bytes > 0
    assert (
        stats.oldest_update and stats.newest_update and stats.oldest_update <= stats.newest_update
    )


async def test_export_then_import_is_lossless_and_keeps_the_order(
    session_history: SessionHistory, tmp_path: Path
) -> None:
    await session_history.create_session(
        session(
            "full",
            messages=[full_message(), *turn(0)],
            usage=Usage(total_tokens=3, extra=1),
            metadata={"title": "ünï", "tags": ["a"]},
        )
    )
    await session_history.create_session(session("empty"))
    await session_history.create_session(session("third", messages=turn(2)))
    await session_history.append_messages("full", turn(1))  # now the newest
    lines = [line async for line in session_history.export_jsonl(batch_size=2)]
    assert len(lines) == 3
    target = HistoryConfig(
        enabled=True, db_path=tmp_path / "copy.db", load_entrypoint_plugins=False
    )
    async with SessionHistory(target) as copy:
        report = await copy.import_jsonl(lines)
        assert (report.added, report.replaced, report.unchanged, report.errors) == (3, 0, 0, [])
        for sid in ("full", "empty", "third"):
            assert await copy.load_session(sid) == await session_history.load_session(sid)
        original = [s.model_dump() for s in await session_history.list_sessions()]
        assert [s.model_dump() for s in await copy.list_sessions()] == original
        again = await copy.import_jsonl(lines)
        assert (again.added, again.replaced, again.unchanged) == (0, 0, 3)
        assert await copy.session_count() == 3


async def test_import_replaces_changed_sessions_and_reports_bad_lines(
    session_history: SessionHistory,
) -> None:
    await session_history.create_session(session("a", messages=turn(0)))
    (line,) = [line async for line in session_history.export_jsonl()]
    changed = line.replace("answer 0", "answer zero")
    report = await session_history.import_jsonl(
        [
            changed,
            "",
            "{not json",
            '{"session_id": "b"}',
            '{"session_id": "c", "agent_name": "x", "model": "y", "messages": []}',
        ]
    )
    assert (report.added, report.replaced) == (1, 1)
    assert [n for n, _ in report.errors] == [3, 4]
    assert "Invalid JSON" in report.errors[0][1]
    assert "agent_name" in report.errors[1][1]
    loaded = await session_history.load_session("a")
    assert loaded is not None and loaded.messages[-1].content == "answer zero"
    assert await session_history.session_count() == 2
