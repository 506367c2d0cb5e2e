"""The LangChain history reads the session's current branch (the core's tree)."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage

from langchain_session_history import SessionChatMessageHistory
from session_history import SessionHistory


async def test_the_chat_history_follows_the_current_branch(
    session_history: SessionHistory,
) -> None:
    chat = SessionChatMessageHistory("s", session_history)
    await chat.aadd_messages([HumanMessage("q"), AIMessage("first answer")])
    await session_history.branch_session("s", at=1)
    await chat.aadd_messages([AIMessage("second answer")])
    assert [m.content for m in await chat.aget_messages()] == ["q", "second answer"]
    first = next(b for b in await session_history.list_branches("s") if not b.current)
    await session_history.branch_session("s", from_entry=first.tip)
    assert [m.content for m in await chat.aget_messages()] == ["q", "first answer"]
