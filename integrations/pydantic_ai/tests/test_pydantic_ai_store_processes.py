"""Writers in separate processes, each loading, running and saving with a retry on conflict:
no turn is lost and no stray branch is left, on both backends (the revision is checked in the
database, not in a process)."""

from __future__ import annotations

import asyncio
import multiprocessing

import pytest
from pydantic_ai.conversation import Conversation
from pydantic_ai.conversation_store import ConversationConflict
from store_cases import weather_agent

from pydantic_ai_session_history import HistoryConversationStore
from session_history import HistoryConfig, SessionHistory

WRITERS, TURNS = 3, 15


async def _turns(config: HistoryConfig, writer: int) -> None:
    agent = weather_agent()
    async with SessionHistory(config) as history:
        store = HistoryConversationStore(history)
        for number in range(TURNS):
            while True:
                loaded = await store.load("shared") or Conversation(conversation_id="shared")
                result = await agent.run(f"{writer}:{number}", conversation=loaded)
                try:
                    await store.save(result)
                except ConversationConflict:
                    continue  # another writer saved first: run the turn again on theirs
                break


def _writer(config_json: str, writer: int) -> None:
    asyncio.run(_turns(HistoryConfig.model_validate_json(config_json), writer))


@pytest.mark.slow  # about 10 s a backend: three processes starting up
def test_retrying_writers_in_three_processes_lose_no_turn_and_leave_no_branch(
    session_history_config: HistoryConfig,
) -> None:
    ctx = multiprocessing.get_context("spawn")
    config = session_history_config.model_dump_json()
    processes = [ctx.Process(target=_writer, args=(config, w)) for w in range(WRITERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * WRITERS

    async def stored() -> tuple[list[str], list[str], int]:
        async with SessionHistory(session_history_config) as history:
            store = HistoryConversationStore(history)
            loaded = await store.load("shared")
            record = await store.read_record("shared")
            assert loaded is not None and record is not None
            said = [m.parts[0].content for m in loaded.messages[::2]]  # each turn's prompt
            return [str(s) for s in said], record.branches, loaded.usage.requests

    said, branches, requests = asyncio.run(stored())
    assert branches == []
    assert requests == WRITERS * TURNS
    for writer in range(WRITERS):
        assert [s for s in said if s.startswith(f"{writer}:")] == [
            f"{writer}:{n}" for n in range(TURNS)
        ]
    assert len(said) == WRITERS * TURNS
