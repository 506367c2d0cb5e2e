"""HistorySession's branches behave as AdvancedSQLiteSession's (the SDK's own tests check the
same behaviours), on both backends, and are branches of the session's tree for everything else."""

from __future__ import annotations

import asyncio
import time

import pytest
from agents import TResponseInputItem

from openai_agents_session_history import HistorySession
from session_history import HistoryConfig, SessionHistory


def turns(n: int, tag: str = "") -> list[TResponseInputItem]:
    """``n`` user turns, each a question and an answer."""
    items: list[TResponseInputItem] = []
    for i in range(1, n + 1):
        items.append({"role": "user", "content": f"q{i}{tag}"})
        items.append({"role": "assistant", "content": f"a{i}{tag}"})
    return items


async def test_a_branch_from_a_turn_holds_the_turns_before_it_and_becomes_current(
    session: HistorySession,
) -> None:
    main = turns(3)
    await session.add_items(main)
    assert await session.create_branch_from_turn(2, "retry") == "retry"
    assert session._current_branch_id == "retry"
    assert await session.get_items() == main[:2]
    assert await session.get_items(branch_id="main") == main

    await session.add_items([{"role": "user", "content": "q2 again"}])
    assert await session.get_items() == [*main[:2], {"role": "user", "content": "q2 again"}]
    await session.switch_to_branch("main")
    assert await session.get_items() == main
    assert await session.get_items(limit=2, branch_id="retry") == [
        main[1],
        {"role": "user", "content": "q2 again"},
    ]


async def test_list_branches_gives_the_sdk_fields_oldest_first(session: HistorySession) -> None:
    await session.add_items(turns(2))
    await session.create_branch_from_turn(2, "b")
    await session.add_items([{"role": "user", "content": "other"}])
    branches = await session.list_branches()
    assert [
        (b["branch_id"], b["message_count"], b["user_turns"], b["is_current"]) for b in branches
    ] == [
        ("main", 4, 2, False),
        ("b", 3, 2, True),
    ]
    assert all(isinstance(b["created_at"], str) for b in branches)


async def test_sdk_branches_are_branches_of_the_sessions_tree(
    session: HistorySession, session_history: SessionHistory
) -> None:
    await session.add_items(turns(2))
    await session.create_branch_from_turn(2, "b")
    await session.add_items([{"role": "user", "content": "other"}])
    tree = await session_history.list_branches("conv-1")
    assert sorted(b.length for b in tree) == [3, 4]
    hits = await session_history.search("q2")
    assert [h.session_id for h in hits] == ["conv-1"]  # the main branch's turn, found elsewhere


async def test_an_empty_branch_is_not_listed_until_it_holds_an_item(
    session: HistorySession,
) -> None:
    await session.add_items(turns(1))
    await session.create_branch_from_turn(1, "fresh")
    assert await session.get_items() == []
    assert [b["branch_id"] for b in await session.list_branches()] == ["main"]
    await session.add_items([{"role": "user", "content": "new start"}])
    assert [b["branch_id"] for b in await session.list_branches()] == ["main", "fresh"]
    assert await session.get_items() == [{"role": "user", "content": "new start"}]


async def test_generated_branch_ids_take_a_suffix_within_one_second(
    session: HistorySession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)
    main = turns(3)
    await session.add_items(main)
    first = await session.create_branch_from_turn(3)
    await session.switch_to_branch("main")
    second = await session.create_branch_from_turn(3)
    assert (first, second) == ("branch_from_turn_3_1700000000", "branch_from_turn_3_1700000000_2")
    assert await session.get_items(branch_id=first) == main[:4]
    assert await session.get_items(branch_id=second) == main[:4]
    assert await session.get_items(branch_id="main") == main


@pytest.mark.parametrize("taken", ["main", "existing"])
async def test_a_branch_id_in_use_is_refused_and_nothing_changes(
    session: HistorySession, taken: str
) -> None:
    main = turns(3)
    await session.add_items(main)
    if taken != "main":
        await session.create_branch_from_turn(3, taken)
        await session.switch_to_branch("main")
    before = await session.get_items(branch_id=taken)
    with pytest.raises(ValueError, match=f"Branch ID '{taken}' has already been used"):
        await session.create_branch_from_turn(2, taken)
    assert session._current_branch_id == "main"
    assert await session.get_items(branch_id=taken) == before
    assert await session.get_items(branch_id="main") == main


async def test_branch_ids_stay_used_after_delete_and_clear(session: HistorySession) -> None:
    await session.add_items(turns(3))
    await session.create_branch_from_turn(3, "used")
    await session.switch_to_branch("main")
    await session.delete_branch("used")
    with pytest.raises(ValueError, match="already been used"):
        await session.create_branch_from_turn(2, "used")
    await session.clear_session()
    await session.add_items(turns(3))
    with pytest.raises(ValueError, match="already been used"):
        await session.create_branch_from_turn(1, "used")


async def test_the_sdks_errors_with_its_messages(session: HistorySession) -> None:
    with pytest.raises(ValueError, match="Turn 5 does not contain a user message in branch 'main'"):
        await session.create_branch_from_turn(5, "x")
    with pytest.raises(ValueError, match="Branch name cannot be empty"):
        await session.create_branch_from_turn(1, "  ")
    with pytest.raises(ValueError, match="Branch 'nope' does not exist"):
        await session.switch_to_branch("nope")
    with pytest.raises(ValueError, match="Branch 'nope' does not exist"):
        await session.delete_branch("nope")
    with pytest.raises(ValueError, match="Cannot delete the 'main' branch"):
        await session.delete_branch("main")
    for blank in ("", "   "):
        with pytest.raises(ValueError, match="Branch ID cannot be empty"):
            await session.delete_branch(blank)
    with pytest.raises(ValueError, match="No user turns found containing 'zebra'"):
        await session.create_branch_from_content("zebra", "x")


async def test_deleting_the_current_branch_needs_force_and_goes_to_main(
    session: HistorySession,
) -> None:
    await session.add_items(
        [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]
    )
    await session.create_branch_from_turn(2, "temp")
    await session.add_items([{"role": "user", "content": "branch"}])
    with pytest.raises(ValueError, match=r"Cannot delete current branch 'temp'\. Use force=True"):
        await session.delete_branch("temp")
    await session.delete_branch("temp", force=True)
    assert session._current_branch_id == "main"
    assert [b["branch_id"] for b in await session.list_branches()] == ["main"]


async def test_deleting_a_branch_removes_its_own_items_only(
    session: HistorySession, session_history: SessionHistory
) -> None:
    main = turns(2)
    await session.add_items(main)
    await session.create_branch_from_turn(2, "a")
    shared = turns(1, " shared by a and b")
    await session.add_items([*shared, *turns(1, " only on a")])
    await session.create_branch_from_turn(3, "b")
    await session.delete_branch("a")
    assert await session.get_items(branch_id="b") == [*main[:2], *shared]
    assert await session.get_items(branch_id="main") == main
    assert await session_history.search('"only on a"') == []
    assert len(await session_history.search('"shared by a and b"')) == 2


async def test_create_branch_from_content_uses_the_first_matching_turn(
    session: HistorySession,
) -> None:
    await session.add_items(
        [
            {"role": "user", "content": "a question about math"},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": "more MATH"},
        ]
    )
    assert await session.create_branch_from_content("math", "m") == "m"
    assert await session.get_items() == []


async def test_pop_on_a_branch_leaves_the_items_another_branch_holds(
    session: HistorySession, session_history: SessionHistory
) -> None:
    main = turns(2)
    await session.add_items(main)
    await session.create_branch_from_turn(2, "a")
    await session.add_items([{"role": "user", "content": "branch only"}])
    assert await session.pop_item() == {"role": "user", "content": "branch only"}
    assert await session_history.search('"branch only"') == []  # removed: no branch holds it
    assert await session.pop_item() == main[1]
    assert await session.pop_item() == main[0]
    assert await session.pop_item() is None
    assert await session.get_items() == []
    assert await session.get_items(branch_id="main") == main
    await session.switch_to_branch("main")
    for expected in reversed(main):
        assert await session.pop_item() == expected
    assert await session.get_items() == []


async def test_pop_on_main_leaves_a_branch_made_from_it_whole(session: HistorySession) -> None:
    main = turns(2)
    await session.add_items(main)
    await session.create_branch_from_turn(2, "prefix")
    await session.switch_to_branch("main")
    for _ in main:
        await session.pop_item()
    assert await session.get_items() == []
    assert await session.get_items(branch_id="prefix") == main[:2]
    await session.switch_to_branch("prefix")
    await session.add_items([{"role": "user", "content": "on"}])
    assert await session.get_items() == [*main[:2], {"role": "user", "content": "on"}]


async def test_each_session_object_has_its_own_current_branch(
    session_history: SessionHistory,
) -> None:
    first = HistorySession("shared", session_history)
    second = HistorySession("shared", session_history)
    main = turns(2)
    await first.add_items(main)
    await first.create_branch_from_turn(2, "b")
    await first.add_items([{"role": "user", "content": "on b"}])
    assert second._current_branch_id == "main"
    assert await second.get_items() == main
    await second.add_items([{"role": "user", "content": "on main"}])
    await first.add_items([{"role": "assistant", "content": "still on b"}])
    assert await first.get_items() == [
        *main[:2],
        {"role": "user", "content": "on b"},
        {"role": "assistant", "content": "still on b"},
    ]
    assert await HistorySession("shared", session_history).get_items() == [
        *main,
        {"role": "user", "content": "on main"},
    ]


async def test_clear_removes_every_branch_and_every_object_goes_back_to_main(
    session_history: SessionHistory,
) -> None:
    stale = HistorySession("s", session_history)
    clearer = HistorySession("s", session_history)
    await stale.add_items(turns(2))
    await stale.create_branch_from_turn(2, "stale")
    await stale.add_items([{"role": "user", "content": "x"}])
    await clearer.clear_session()
    assert await session_history.list_branches("s") == [] or all(
        b.length == 0 for b in await session_history.list_branches("s")
    )
    await stale.add_items([{"role": "user", "content": "after clear"}])
    assert stale._current_branch_id == "main"
    assert await stale.get_items() == [{"role": "user", "content": "after clear"}]
    assert await stale.get_items(branch_id="stale") == []
    assert [b["branch_id"] for b in await stale.list_branches()] == ["main"]


async def test_a_branch_made_in_another_store_is_seen_and_written(
    session_history: SessionHistory, session_history_config: HistoryConfig
) -> None:
    owner = HistorySession("x", session_history)
    await owner.add_items(turns(2))
    await owner.create_branch_from_turn(2, "fresh")
    async with SessionHistory(session_history_config) as other_store:
        other = HistorySession("x", other_store)
        await other.switch_to_branch("fresh")
        await other.add_items([{"role": "assistant", "content": "on fresh"}])
        assert [i["content"] for i in await other.get_items()] == ["q1", "a1", "on fresh"]
    assert [i["content"] for i in await owner.get_items()] == ["q1", "a1", "on fresh"]
    await owner.switch_to_branch("main")
    assert [i["content"] for i in await owner.get_items()] == ["q1", "a1", "q2", "a2"]


async def test_concurrent_appends_keep_every_item(session: HistorySession) -> None:
    async def batch(worker: int) -> None:
        await session.add_items([{"role": "user", "content": f"w{worker}-{i}"} for i in range(10)])

    await asyncio.gather(*(batch(w) for w in range(8)))
    contents = {item["content"] for item in await session.get_items()}  # type: ignore[typeddict-item]
    assert contents == {f"w{w}-{i}" for w in range(8) for i in range(10)}


async def test_every_read_after_a_clear_elsewhere_is_of_main(
    session_history: SessionHistory,
) -> None:
    stale = HistorySession("r", session_history)
    await stale.add_items(turns(2))
    await stale.create_branch_from_turn(2, "stale")
    await stale.add_items([{"role": "user", "content": "on stale"}])
    clearer = HistorySession("r", session_history)
    await clearer.clear_session()
    fresh = [{"role": "user", "content": "new main question"}]
    await clearer.add_items(fresh)  # type: ignore[arg-type]
    assert await stale.get_items() == fresh
    assert [t["full_content"] for t in await stale.get_conversation_turns()] == [
        "new main question"
    ]
    assert stale._current_branch_id == "main"
