"""Conversations as trees, on both backends: entry ids, branches, forks, revisions, scope,
expiry and state (``_backends/tree.py`` says how they are kept)."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest

from session_history import (
    ChatMessage,
    HistoryConfig,
    InvalidQueryError,
    RevisionConflictError,
    SessionExistsError,
    SessionHistory,
    SessionHistoryError,
    SessionNotFoundError,
)

from .helpers import session, text, turn
from .test_hooks import Recorder

UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def texts(messages: list[ChatMessage]) -> list[str | None]:
    return [m.content for m in messages]


async def numbered(history: SessionHistory, session_id: str, n: int, **kw: object) -> list[str]:
    return await history.append_messages(
        session_id,
        [text("user", f"m{i}") for i in range(n)],
        create=session(session_id, **kw),
    )


# -- entries ------------------------------------------------------------------------------------


async def test_every_message_read_carries_the_entry_id_the_append_returned(
    session_history: SessionHistory,
) -> None:
    ids = await numbered(session_history, "s", 5)
    assert all(UUID7.fullmatch(i) for i in ids) and ids == sorted(ids)  # time-ordered
    loaded = await session_history.load_session("s")
    assert loaded is not None and [m.entry_id for m in loaded.messages] == ids
    assert [m.entry_id for m in await session_history.load_messages("s", last=2)] == ids[-2:]
    assert (await session_history.get_summary("s")).head == ids[-1]  # type: ignore[union-attr]
    exported = [line async for line in session_history.export_jsonl()]
    assert all(i in exported[0] for i in ids)
    # A message built by the caller still equals the one stored from it (the id is compared
    # only when both have one), so code comparing what it wrote with what it reads still works.
    assert loaded.messages[0] == text("user", "m0")
    assert loaded.messages[0] != loaded.messages[0].model_copy(update={"entry_id": "other"})


async def test_an_id_given_by_the_caller_is_kept_and_a_retry_stores_nothing_twice(
    session_history: SessionHistory, session_history_config: HistoryConfig
) -> None:
    recorder = Recorder()
    async with SessionHistory(session_history_config, plugins=[recorder]) as history:
        await history.create_session(session("s"))
        batch = [
            ChatMessage(role="user", content="q", entry_id="turn-1-q"),
            ChatMessage(role="assistant", content="a", entry_id="turn-1-a"),
        ]
        assert await history.append_messages("s", batch) == ["turn-1-q", "turn-1-a"]
        await history.append_messages("s", [text("user", "later")])
        revision = (await history.get_summary("s")).revision  # type: ignore[union-attr]
        saves = len(recorder.calls)
        # The caller could not know the first call's outcome (cancelled, connection lost):
        # the same call again stores nothing, changes nothing and returns the same ids.
        assert await history.append_messages("s", batch) == ["turn-1-q", "turn-1-a"]
        assert texts(await history.load_messages("s")) == ["q", "a", "later"]
        assert (await history.get_summary("s")).revision == revision  # type: ignore[union-attr]
        assert len(recorder.calls) == saves
        with pytest.raises(InvalidQueryError, match="1 of these 2 messages"):
            await history.append_messages(
                "s", [batch[0], ChatMessage(role="user", content="new", entry_id="turn-2")]
            )
        assert texts(await history.load_messages("s")) == ["q", "a", "later"]


async def test_an_entry_id_of_another_branch_is_refused(session_history: SessionHistory) -> None:
    await session_history.append_messages(
        "s", [ChatMessage(role="user", content="x", entry_id="e1")], create=session("s")
    )
    await session_history.branch_session("s", at=0)
    with pytest.raises(InvalidQueryError, match="another branch"):
        await session_history.append_messages(
            "s", [ChatMessage(role="user", content="y", entry_id="e1")]
        )
    assert await session_history.load_messages("s") == []


# -- branches -----------------------------------------------------------------------------------


async def test_a_branch_keeps_what_it_left_and_the_next_append_goes_on_the_new_one(
    session_history: SessionHistory,
) -> None:
    ids = await numbered(session_history, "s", 5)
    summary = await session_history.branch_session("s", at=2)
    assert (summary.message_count, summary.head) == (2, ids[1])
    new = await session_history.append_messages("s", [text("assistant", "other answer")])
    assert texts(await session_history.load_messages("s")) == ["m0", "m1", "other answer"]
    branches = await session_history.list_branches("s")
    assert {(b.tip, b.length, b.current) for b in branches} == {
        (ids[4], 5, False),
        (new[0], 3, True),
    }
    # Back to the first branch, by its tip; the branch left is kept in turn.
    await session_history.branch_session("s", from_entry=ids[4])
    assert texts(await session_history.load_messages("s")) == [f"m{i}" for i in range(5)]
    assert {(b.tip, b.current) for b in await session_history.list_branches("s")} == {
        (ids[4], True),
        (new[0], False),
    }
    # Summaries count the current branch.
    assert (await session_history.get_summary("s")).message_count == 5  # type: ignore[union-attr]


async def test_pop_takes_from_the_current_branch_only(session_history: SessionHistory) -> None:
    ids = await numbered(session_history, "s", 4)
    await session_history.branch_session("s", at=1)
    await session_history.append_messages("s", [text("user", "b1"), text("user", "b2")])
    popped = await session_history.pop_messages("s", 5)
    assert texts(popped) == ["m0", "b1", "b2"]
    assert await session_history.load_messages("s") == []
    # The other branch still holds its entries, the first one included.
    await session_history.branch_session("s", from_entry=ids[3])
    assert texts(await session_history.load_messages("s")) == ["m0", "m1", "m2", "m3"]


async def test_branch_counts_follow_the_new_path(session_history: SessionHistory) -> None:
    await session_history.append_messages("s", [*turn(0), *turn(1)], create=session("s"))
    summary = await session_history.branch_session("s", at=4)
    assert (summary.message_count, summary.turn_count, summary.tool_call_count) == (4, 1, 1)
    await session_history.append_messages("s", [text("assistant", "x")])
    summary = await session_history.get_summary("s")  # type: ignore[assignment]
    assert (summary.message_count, summary.turn_count, summary.tool_call_count) == (5, 2, 1)
    first = (await session_history.list_branches("s"))[0]
    summary = await session_history.branch_session("s", from_entry=first.tip)
    assert (summary.message_count, summary.turn_count, summary.tool_call_count) == (8, 2, 2)


async def test_bad_branch_targets_are_one_line_errors_and_change_nothing(
    session_history: SessionHistory,
) -> None:
    await numbered(session_history, "s", 3)
    before = await session_history.get_summary("s")
    for call in (
        session_history.branch_session("s", at=4),
        session_history.branch_session("s", at=-1),
        session_history.branch_session("s", from_entry="no such entry"),
        session_history.branch_session("s", at=1, from_entry="x"),
        session_history.branch_session("s"),
    ):
        with pytest.raises(InvalidQueryError) as raised:
            await call
        assert "\n" not in str(raised.value)
    with pytest.raises(SessionNotFoundError):
        await session_history.branch_session("missing", at=0)
    assert await session_history.get_summary("s") == before


async def test_an_entry_of_another_session_is_not_a_branch_target(
    session_history: SessionHistory,
) -> None:
    other = await numbered(session_history, "other", 2)
    await numbered(session_history, "s", 2)
    with pytest.raises(InvalidQueryError, match="not in session 's'"):
        await session_history.branch_session("s", from_entry=other[0])


# -- forks --------------------------------------------------------------------------------------


async def test_a_fork_shares_the_source_entries_and_outlives_it(
    session_history: SessionHistory,
) -> None:
    ids = await numbered(session_history, "src", 4, scope="team", metadata={"title": "t"})
    fork = await session_history.fork_session("src", "fork", at=2, scope="me")
    assert (fork.forked_from, fork.forked_at, fork.message_count) == ("src", ids[1], 2)
    assert (fork.scope, fork.metadata, fork.agent_name) == ("me", {"title": "t"}, "agent")
    await session_history.append_messages("fork", [text("assistant", "forked")])
    await session_history.append_messages("src", [text("assistant", "source goes on")])
    fork_messages = await session_history.load_messages("fork")
    assert [m.entry_id for m in fork_messages[:2]] == ids[:2]  # the same entries
    assert texts(fork_messages) == ["m0", "m1", "forked"]
    assert await session_history.delete_session("src")
    assert texts(await session_history.load_messages("fork")) == ["m0", "m1", "forked"]
    hits = await session_history.search("m1")
    assert [(h.session_id, h.entry_id) for h in hits] == [("fork", ids[1])]
    assert (await session_history.get_summary("fork")).forked_from == "src"  # type: ignore[union-attr]


async def test_fork_mistakes_are_errors_and_change_nothing(
    session_history: SessionHistory,
) -> None:
    await numbered(session_history, "a", 2)
    await numbered(session_history, "b", 1)
    with pytest.raises(SessionExistsError):
        await session_history.fork_session("a", "b")
    with pytest.raises(SessionNotFoundError):
        await session_history.fork_session("missing", "c")
    with pytest.raises(InvalidQueryError):
        await session_history.fork_session("a", "c", at=3)
    assert await session_history.session_count() == 2
    assert texts(await session_history.load_messages("b")) == ["m0"]


# -- revisions ----------------------------------------------------------------------------------


async def test_every_change_moves_the_revision_and_a_stale_write_changes_nothing(
    session_history: SessionHistory,
) -> None:
    await numbered(session_history, "s", 2)

    async def revision() -> int:
        summary = await session_history.get_summary("s")
        assert summary is not None
        return summary.revision

    seen = [await revision()]
    await session_history.append_messages("s", [text("user", "x")], expected_revision=seen[-1])
    seen.append(await revision())
    await session_history.pop_messages("s", 1, expected_revision=seen[-1])
    seen.append(await revision())
    await session_history.branch_session("s", at=1, expected_revision=seen[-1])
    seen.append(await revision())
    await session_history.set_state("s", {"k": 1}, expected_revision=seen[-1])
    seen.append(await revision())
    await session_history.save_session(session("s", messages=[text("user", "saved")]))
    seen.append(await revision())
    assert seen == sorted(set(seen))  # each change moved it
    stale = seen[0]
    before = await session_history.load_session("s")
    for call in (
        session_history.append_messages("s", [text("user", "late")], expected_revision=stale),
        session_history.pop_messages("s", 1, expected_revision=stale),
        session_history.branch_session("s", at=0, expected_revision=stale),
        session_history.set_state("s", {"k": 2}, expected_revision=stale),
    ):
        with pytest.raises(RevisionConflictError) as raised:
            await call
        assert isinstance(raised.value, SessionHistoryError)
        assert (raised.value.expected, raised.value.stored) == (stale, seen[-1])
    assert await session_history.load_session("s") == before


async def test_concurrent_writers_on_one_revision_one_wins(session_history: SessionHistory) -> None:
    await numbered(session_history, "s", 1)
    summary = await session_history.get_summary("s")
    assert summary is not None
    results = await asyncio.gather(
        *(
            session_history.append_messages(
                "s", [text("user", f"w{i}")], expected_revision=summary.revision
            )
            for i in range(8)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, list) for r in results) == 1
    assert sum(isinstance(r, RevisionConflictError) for r in results) == 7
    assert len(await session_history.load_messages("s")) == 2


# -- scope --------------------------------------------------------------------------------------


async def test_scope_filters_every_listing_and_hides_other_owners_sessions(
    session_history: SessionHistory,
) -> None:
    await numbered(session_history, "alice-1", 2, scope="alice")
    await numbered(session_history, "bob-1", 3, scope="bob")
    await numbered(session_history, "nobody", 1)
    assert [s.id for s in await session_history.list_sessions(scope="alice")] == ["alice-1"]
    assert await session_history.session_count(scope="bob") == 1
    assert (await session_history.stats(scope="bob")).messages == 3
    assert {h.session_id for h in await session_history.search("m0", scope="alice")} == {"alice-1"}
    assert await session_history.load_session("bob-1", scope="alice") is None
    assert await session_history.load_messages("bob-1", scope="alice") == []
    assert await session_history.get_summary("bob-1", scope="alice") is None
    assert await session_history.list_branches("bob-1", scope="alice") == []
    assert (await session_history.load_session("bob-1", scope="bob")) is not None
    with pytest.raises(SessionNotFoundError, match="in scope 'alice'"):
        await session_history.append_messages("bob-1", [text("user", "x")], scope="alice")
    with pytest.raises(SessionExistsError):
        await session_history.append_messages(
            "bob-1", [text("user", "x")], scope="alice", create=session("bob-1", scope="alice")
        )
    assert await session_history.pop_messages("bob-1", scope="alice") == []
    assert not await session_history.delete_session("bob-1", scope="alice")
    assert len(await session_history.load_messages("bob-1")) == 3
    pruned = await session_history.prune(max_sessions=0, scope="bob")
    assert [s.id for s in pruned] == ["bob-1"]
    assert await session_history.session_count() == 2


# -- expiry -------------------------------------------------------------------------------------


async def test_an_expired_session_reads_as_missing_everywhere_until_pruned(
    session_history_config: HistoryConfig,
) -> None:
    recorder = Recorder()
    config = session_history_config.model_copy(update={"session_ttl": timedelta(seconds=1)})
    async with SessionHistory(config, plugins=[recorder]) as history:
        await numbered(history, "short", 2)
        await numbered(history, "kept", 1)
        first = (await history.get_summary("short")).expires_at  # type: ignore[union-attr]
        assert first is not None
        await asyncio.sleep(0.6)
        await history.append_messages("kept", [text("user", "again")])  # slides on
        kept = await history.get_summary("kept")
        assert kept is not None and kept.expires_at is not None
        assert kept.expires_at >= first + timedelta(seconds=0.6)
        await asyncio.sleep(0.55)  # "short" expired 0.15 s ago; "kept" has 0.45 s left
        assert await history.load_session("short") is None
        assert await history.get_summary("short") is None
        assert await history.load_messages("short") == []
        assert [s.id for s in await history.list_sessions()] == ["kept"]
        assert await history.session_count() == 1
        assert (await history.stats()).sessions == 1
        assert {h.session_id for h in await history.search("m0")} == {"kept"}
        assert len([line async for line in history.export_jsonl()]) == 1
        with pytest.raises(SessionNotFoundError):
            await history.append_messages("short", [text("user", "x")])
        pruned = await history.prune(expired=True)
        assert [s.id for s in pruned] == ["short"]
        assert ("pruned", {"ids": ["short"], "reason": "expired"}) in recorder.calls
        # Its id is free again: an append that creates makes a new session.
        await history.append_messages("short", [text("user", "new")], create=session("short"))
        assert texts(await history.load_messages("short")) == ["new"]


# -- state --------------------------------------------------------------------------------------


async def test_state_is_written_with_an_append_and_read_with_the_session(
    session_history: SessionHistory,
) -> None:
    await session_history.append_messages(
        "s", [text("user", "x")], create=session("s"), state={"deferred": [1, 2], "n": 1.5}
    )
    await session_history.append_messages("s", [text("user", "y")], state={"n": None, "k": "v"})
    assert await session_history.load_state("s") == {"deferred": [1, 2], "k": "v"}
    loaded = await session_history.load_session("s")
    assert loaded is not None and loaded.state == {"deferred": [1, 2], "k": "v"}
    await session_history.set_state("s", {"deferred": None})
    assert await session_history.load_state("s") == {"k": "v"}
    assert await session_history.load_state("missing") is None
    with pytest.raises(SessionNotFoundError):
        await session_history.set_state("missing", {"k": 1})


async def test_a_failed_append_writes_no_state(session_history: SessionHistory) -> None:
    await numbered(session_history, "s", 1)
    with pytest.raises(RevisionConflictError):
        await session_history.append_messages(
            "s", [text("user", "x")], state={"k": 1}, expected_revision=99
        )
    assert await session_history.load_state("s") == {}


# -- hooks, export and import -----------------------------------------------------------------


async def test_branch_and_fork_fire_saved(session_history_config: HistoryConfig) -> None:
    recorder = Recorder()
    async with SessionHistory(session_history_config, plugins=[recorder]) as history:
        ids = await numbered(history, "s", 3)
        await history.branch_session("s", at=1)
        await history.fork_session("s", "f")
    ops = [(call["op"], call["summary"].id, call["new"]) for name, call in recorder.calls]
    assert ops[1] == ("branch", "s", [])
    assert ops[2][:2] == ("fork", "f") and [m.entry_id for m in ops[2][2]] == ids[:1]


async def test_an_export_of_a_tree_imports_as_the_same_tree(
    session_history: SessionHistory, session_history_config: HistoryConfig, tmp_path: object
) -> None:
    ids = await numbered(session_history, "s", 4, scope="u", metadata={"t": 1})
    await session_history.branch_session("s", at=2)
    other = await session_history.append_messages("s", [text("user", "alt"), text("user", "alt2")])
    await session_history.branch_session("s", at=1)
    third = await session_history.append_messages("s", [text("user", "third")])
    await session_history.set_state("s", {"k": [1]})
    await session_history.fork_session("s", "f", at=1)
    lines = [line async for line in session_history.export_jsonl()]
    before = {
        sid: (
            await session_history.load_session(sid),
            await session_history.list_branches(sid),
            await session_history.get_summary(sid),
        )
        for sid in ("s", "f")
    }
    for sid in ("s", "f"):
        await session_history.delete_session(sid)
    report = await session_history.import_jsonl(lines)
    assert (report.added, report.errors) == (2, [])
    for sid, (loaded, branches, summary) in before.items():
        assert await session_history.load_session(sid) == loaded
        assert {(b.tip, b.length, b.current) for b in await session_history.list_branches(sid)} == {
            (b.tip, b.length, b.current) for b in branches
        }
        after = await session_history.get_summary(sid)
        assert after is not None and summary is not None
        assert (after.revision, after.head, after.forked_from, after.forked_at, after.scope) == (
            summary.revision,
            summary.head,
            summary.forked_from,
            summary.forked_at,
            summary.scope,
        )
    again = await session_history.import_jsonl(lines)
    assert again.unchanged == 2
    await session_history.branch_session("s", from_entry=ids[3])
    assert texts(await session_history.load_messages("s")) == ["m0", "m1", "m2", "m3"]
    await session_history.branch_session("s", from_entry=other[1])
    assert texts(await session_history.load_messages("s")) == ["m0", "m1", "alt", "alt2"]
    assert texts(await session_history.load_messages("f")) == ["m0"]
    assert third


async def test_a_line_of_the_previous_release_imports_and_is_then_unchanged(
    session_history: SessionHistory,
) -> None:
    line = (
        '{"session_id":"old","agent_name":"a","model":"m","started_at":"2026-11-01T00:00:00Z",'
        '"updated_at":"2026-11-02T00:00:00Z","ended_at":null,"usage":null,"metadata":{},'
        '"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}'
    )
    assert (await session_history.import_jsonl([line])).added == 1
    messages = await session_history.load_messages("old")
    assert texts(messages) == ["hi", "yo"] and all(m.entry_id for m in messages)
    assert (await session_history.import_jsonl([line])).unchanged == 1


async def test_a_fork_of_a_fork_outlives_both_its_sources(session_history: SessionHistory) -> None:
    ids = await numbered(session_history, "d", 2)
    await session_history.fork_session("d", "c", at=2)
    await session_history.fork_session("c", "b", at=1)
    assert await session_history.delete_session("c")  # the fork between them goes first
    assert await session_history.delete_session("d")
    assert [m.entry_id for m in await session_history.load_messages("b")] == ids[:1]
    await numbered(session_history, "e", 1)
    await session_history.fork_session("e", "f")
    await session_history.fork_session("f", "g")
    await session_history.delete_session("f")
    pruned = await session_history.prune(max_sessions=1)  # g stays, e goes
    assert "e" in {s.id for s in pruned}
    assert texts(await session_history.load_messages("g")) == ["m0"]


async def test_an_imported_branch_whose_parent_is_nowhere_is_a_bad_line(
    session_history: SessionHistory,
) -> None:
    line = (
        '{"session_id":"t","agent_name":"a","model":"m","messages":[{"role":"user",'
        '"content":"hi","entry_id":"e1"}],"branches":[{"parent":"nowhere","messages":'
        '[{"role":"user","content":"x","entry_id":"e2"}]}]}'
    )
    report = await session_history.import_jsonl([line])
    assert report.added == 0 and len(report.errors) == 1
    assert "parent entry 'nowhere'" in report.errors[0][1]
    assert await session_history.get_summary("t") is None
