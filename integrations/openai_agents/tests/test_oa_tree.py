"""The OpenAI Agents session reads the session's current branch (the core's tree)."""

from __future__ import annotations

from typing import Any, cast

from agents import TResponseInputItem

from openai_agents_session_history import HistorySession
from session_history import SessionHistory


def item(role: str, text: str) -> TResponseInputItem:
    return cast(TResponseInputItem, {"role": role, "content": text})


async def test_the_session_follows_the_current_branch(session_history: SessionHistory) -> None:
    session = HistorySession("s", session_history)
    await session.add_items([item("user", "q"), item("assistant", "first answer")])
    await session_history.branch_session("s", at=1)
    await session.add_items([item("assistant", "second answer")])
    got = await session.get_items()
    assert [cast(dict[str, Any], i)["content"] for i in got] == ["q", "second answer"]
    assert await session.pop_item() == item("assistant", "second answer")
    first = next(b for b in await session_history.list_branches("s") if not b.current)
    await session_history.branch_session("s", from_entry=first.tip)
    got = await session.get_items()
    assert [cast(dict[str, Any], i)["content"] for i in got] == ["q", "first answer"]
