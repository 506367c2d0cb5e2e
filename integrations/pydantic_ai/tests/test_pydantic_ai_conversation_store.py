"""``HistoryConversationStore`` keeps pydantic-ai's ``ConversationStore`` contract on both
backends: exact messages, saves that append (and branch only when a history was rewritten),
revisions checked in the database, branches, forks, scopes, listing, deletes, usage and deferred
tool requests; and a conversation is an ordinary session for everything else."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from click.testing import CliRunner
from pai_samples import every_message
from pydantic_ai import DeferredToolRequests, DeferredToolResults
from pydantic_ai.conversation import Conversation, ConversationTypeAdapter
from pydantic_ai.conversation_store import ConversationConflict, ConversationRecord
from pydantic_ai.exceptions import UserError
from pydantic_ai.messages import ModelMessagesTypeAdapter
from store_cases import another_store, weather_agent

from pydantic_ai_session_history import (
    HistoryConversationStore,
    PydanticAIHistory,
    to_chat_messages,
)
from session_history import HistoryConfig, SessionHistory
from session_history.cli import cli

agent = weather_agent()
dump = ModelMessagesTypeAdapter.dump_json


async def turn(
    store: HistoryConversationStore, conversation_id: str, prompt: str, **save: str
) -> Conversation:
    """One turn: load (or start), run, save; the conversation the run ended with."""
    conversation = await store.load(conversation_id) or Conversation(
        conversation_id=conversation_id
    )
    result = await agent.run(prompt, conversation=conversation)
    await store.save(result, **save)
    return result.conversation


async def test_a_saved_run_loads_exactly_as_it_ran_through_a_reopen(
    conversation_store: HistoryConversationStore, session_history_config: HistoryConfig
) -> None:
    await turn(conversation_store, "c", "Weather in Zürich?")
    ran = await turn(conversation_store, "c", "Thanks")
    loaded = await conversation_store.load("c")
    assert loaded is not None and loaded.messages == ran.messages
    async with another_store(session_history_config) as reopened:
        again = await reopened.load("c")
    assert again is not None
    assert again.messages == ran.messages
    assert again.usage == ran.usage and again.usage.requests == 3
    assert again.revision == loaded.revision == ran.revision


async def test_every_part_kind_is_stored_exactly(
    conversation_store: HistoryConversationStore, session_history_config: HistoryConfig
) -> None:
    messages = every_message()
    entries = await conversation_store.save(Conversation(conversation_id="c", messages=messages))
    assert [entry.message for entry in entries] == messages
    async with another_store(session_history_config) as reopened:
        loaded = await reopened.load("c")
        stored = await reopened.load_entries("c")
    assert loaded is not None and stored is not None
    assert dump(loaded.messages) == dump(messages)
    assert [e.id for e in stored] == [e.id for e in entries]
    assert [e.parent_id for e in stored] == [None, *(e.id for e in entries[:-1])]


async def test_a_save_after_a_load_appends_and_never_branches(
    conversation_store: HistoryConversationStore,
) -> None:
    for prompt in ("Weather in Oslo?", "Hello", "Weather in Rome?"):
        await turn(conversation_store, "c", prompt)
    record = await conversation_store.read_record("c")
    assert record is not None and record.branches == []
    entries = await conversation_store.load_entries("c")
    assert entries is not None and len(entries) == 10
    assert record.head_id == entries[-1].id


async def test_a_serialized_conversation_continued_is_saved_without_a_branch(
    conversation_store: HistoryConversationStore,
) -> None:
    await turn(conversation_store, "c", "Weather in Oslo?")
    loaded = await conversation_store.load("c")
    assert loaded is not None
    # What a web app keeps between requests: the comparison with the stored history is by ==,
    # so a timestamp that changed on the way would make every save a branch.
    carried = ConversationTypeAdapter.validate_json(ConversationTypeAdapter.dump_json(loaded))
    result = await agent.run("And tomorrow?", conversation=carried)
    new = await conversation_store.save(result)
    record = await conversation_store.read_record("c")
    assert record is not None and record.branches == []
    assert [e.message for e in new] == result.new_messages()
    again = await conversation_store.load("c")
    assert again is not None and again.messages == result.all_messages()


@pytest.mark.parametrize("limit", [0, 1, 2, 3, 5, 7])
async def test_load_with_a_limit_gives_the_last_messages_and_saves_onto_the_whole(
    conversation_store: HistoryConversationStore, limit: int
) -> None:
    messages = every_message()
    await conversation_store.save(Conversation(conversation_id="c", messages=messages))
    window = await conversation_store.load("c", limit=limit)
    assert window is not None
    # By their JSON: a file read back is a BinaryImage with its identifier worked out, which
    # pydantic-ai's == tells from the BinaryContent it was written from.
    assert dump(window.messages) == dump(messages[-limit:] if limit else [])
    result = await agent.run("Hello", conversation=window)
    await conversation_store.save(result)
    whole = await conversation_store.load("c")
    assert whole is not None and dump(whole.messages) == dump([*messages, *result.new_messages()])
    with pytest.raises(UserError, match="negative"):
        await conversation_store.load("c", limit=-1)


async def test_a_load_is_one_read_of_messages_however_long_the_conversation(
    conversation_store: HistoryConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(30):
        await turn(conversation_store, "c", f"Message {number}")
    reads = 0
    history = conversation_store.history
    load_messages = history.load_messages

    async def counted(*args: object, **kwargs: object) -> object:
        nonlocal reads
        reads += 1
        return await load_messages(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(history, "load_messages", counted)
    loaded = await conversation_store.load("c")
    assert loaded is not None and len(loaded.messages) == 60 and reads == 1
    window = await conversation_store.load("c", limit=20)
    assert window is not None and len(window.messages) == 20 and reads == 2


async def test_a_stale_save_conflicts_and_writes_nothing(
    conversation_store: HistoryConversationStore,
) -> None:
    await turn(conversation_store, "c", "Hello")
    first = await conversation_store.load("c")
    second = await conversation_store.load("c")
    assert first is not None and second is not None
    await conversation_store.save(await agent.run("One", conversation=first))
    before = await conversation_store.load("c")
    with pytest.raises(ConversationConflict):
        await conversation_store.save(await agent.run("Two", conversation=second))
    after = await conversation_store.load("c")
    assert before is not None and after is not None
    assert after.messages == before.messages and after.revision == before.revision


async def test_saving_a_new_conversation_over_a_stored_one_or_in_another_scope_conflicts(
    conversation_store: HistoryConversationStore,
) -> None:
    await turn(conversation_store, "c", "Hello", scope="alice")
    with pytest.raises(ConversationConflict):
        await conversation_store.save(Conversation(conversation_id="c"))
    loaded = await conversation_store.load("c")
    assert loaded is not None
    with pytest.raises(ConversationConflict):
        await conversation_store.save(loaded, scope="bob")
    assert await conversation_store.load("c", scope="bob") is None


async def test_write_record_checks_the_revision_itself_not_only_save(
    conversation_store: HistoryConversationStore,
) -> None:
    await turn(conversation_store, "c", "Hello")
    record = await conversation_store.read_record("c")
    assert record is not None
    await turn(conversation_store, "c", "Again")
    for stale in (record.revision, None, "not-a-revision"):
        with pytest.raises(ConversationConflict):
            await conversation_store.write_record(
                dataclasses.replace(record), expected_revision=stale
            )


async def test_two_writers_on_their_own_connections_exactly_one_save_lands(
    conversation_store: HistoryConversationStore, session_history_config: HistoryConfig
) -> None:
    await turn(conversation_store, "c", "Hello")
    async with another_store(session_history_config) as other:
        mine, theirs = await conversation_store.load("c"), await other.load("c")
        assert mine is not None and theirs is not None
        runs = [
            await agent.run("Mine", conversation=mine),
            await agent.run("Theirs", conversation=theirs),
        ]
        outcomes = await asyncio.gather(
            conversation_store.save(runs[0]), other.save(runs[1]), return_exceptions=True
        )
    conflicts = [o for o in outcomes if isinstance(o, ConversationConflict)]
    assert len(conflicts) == 1, outcomes
    landed = runs[outcomes.index(next(o for o in outcomes if isinstance(o, list)))]
    stored = await conversation_store.load("c")
    assert stored is not None and stored.messages == landed.all_messages()


async def test_branch_at_keeps_the_first_messages_and_leaves_the_rest_as_a_branch(
    conversation_store: HistoryConversationStore,
) -> None:
    await turn(conversation_store, "c", "Hello")
    await turn(conversation_store, "c", "Weather in Oslo?")
    loaded = await conversation_store.load("c")
    assert loaded is not None
    branched = await conversation_store.branch("c", at=2, expected_revision=loaded.revision)
    assert branched.messages == loaded.messages[:2]
    record = await conversation_store.read_record("c")
    assert record is not None and record.revision == branched.revision
    entries = await conversation_store.load_entries("c")
    assert entries is not None and record.head_id == entries[-1].id
    old_tip = record.branches
    assert len(old_tip) == 1
    result = await agent.run("Weather in Rome?", conversation=branched)
    await conversation_store.save(result)
    now = await conversation_store.load("c")
    assert now is not None and now.messages == result.all_messages()
    # ...and back to the branch it left, by its tip.
    record = await conversation_store.read_record("c")
    assert record is not None and record.branches == old_tip
    back = await conversation_store.branch(
        "c", from_entry=old_tip[0], expected_revision=record.revision
    )
    assert back.messages == loaded.messages
    record = await conversation_store.read_record("c")
    assert record is not None and len(record.branches) == 1 and record.head_id == old_tip[0]


async def test_branch_refuses_what_pydantic_ai_refuses(
    conversation_store: HistoryConversationStore,
) -> None:
    await turn(conversation_store, "c", "Hello")
    loaded = await conversation_store.load("c")
    assert loaded is not None
    revision = loaded.revision
    with pytest.raises(UserError, match="not in the store"):
        await conversation_store.branch("missing", at=0, expected_revision=revision)
    with pytest.raises(UserError, match="between 0 and 2"):
        await conversation_store.branch("c", at=3, expected_revision=revision)
    with pytest.raises(UserError, match="exactly one"):
        await conversation_store.branch("c", at=0, from_entry="x", expected_revision=revision)
    with pytest.raises(UserError, match="is not in the history"):
        await conversation_store.branch("c", from_entry="nowhere", expected_revision=revision)
    for stale in ("1-0", None):
        with pytest.raises(ConversationConflict):
            await conversation_store.branch("c", at=0, expected_revision=stale)
        with pytest.raises(ConversationConflict):
            await conversation_store.branch("c", from_entry="x", expected_revision=stale)
    with pytest.raises(UserError, match="not in the store"):
        await conversation_store.branch("c", at=0, expected_revision=revision, scope="bob")
    again = await conversation_store.load("c")
    assert again is not None and again.revision == revision


async def test_branching_to_the_head_changes_only_the_revision(
    conversation_store: HistoryConversationStore,
) -> None:
    await turn(conversation_store, "c", "Hello")
    record = await conversation_store.read_record("c")
    assert record is not None and record.head_id is not None
    branched = await conversation_store.branch(
        "c", from_entry=record.head_id, expected_revision=record.revision
    )
    after = await conversation_store.read_record("c")
    assert after is not None and after.revision == branched.revision != record.revision
    assert after.head_id == record.head_id and after.branches == []


async def test_a_fork_shares_the_history_in_its_own_scope_and_outlives_its_source(
    conversation_store: HistoryConversationStore,
) -> None:
    await turn(conversation_store, "c", "Weather in Oslo?", scope="alice")
    source = await conversation_store.load("c")
    entries = await conversation_store.load_entries("c")
    assert source is not None and entries is not None
    fork = await conversation_store.fork("c", new_conversation_id="f", scope="bob")
    assert fork.messages == source.messages and fork.usage == source.usage
    record = await conversation_store.read_record("f")
    assert record is not None
    assert (record.scope, record.forked_from, record.forked_at) == ("bob", "c", entries[-1].id)
    part = await conversation_store.fork("c", at=2, new_conversation_id="g")
    assert part.messages == source.messages[:2] and part.usage.requests == 0
    g = await conversation_store.read_record("g")
    assert g is not None and (g.scope, g.forked_at) == ("alice", entries[1].id)
    with pytest.raises(ConversationConflict):
        await conversation_store.fork("c", new_conversation_id="f")
    with pytest.raises(UserError, match="not in the store"):
        await conversation_store.fork("c", source_scope="bob")
    await conversation_store.delete("c")
    kept = await conversation_store.load("f")
    assert kept is not None and kept.messages == source.messages
    result = await agent.run("Thanks", conversation=kept)
    await conversation_store.save(result)
    continued = await conversation_store.load("f")
    assert continued is not None and continued.messages == result.all_messages()


async def test_a_fork_from_an_entry_on_a_branch_the_conversation_left(
    conversation_store: HistoryConversationStore,
) -> None:
    await turn(conversation_store, "c", "Hello")
    old = await conversation_store.load("c")
    assert old is not None
    branched = await conversation_store.branch("c", at=0, expected_revision=old.revision)
    await conversation_store.save(await agent.run("Other", conversation=branched))
    record = await conversation_store.read_record("c")
    assert record is not None
    fork = await conversation_store.fork(
        "c", from_entry=record.branches[-1], new_conversation_id="f"
    )
    assert fork.messages == old.messages and fork.usage.requests == 0
    with pytest.raises(UserError, match="is not in the history"):
        await conversation_store.fork("c", from_entry="nowhere")


async def test_conversations_are_listed_newest_first_by_scope_and_limit(
    conversation_store: HistoryConversationStore,
) -> None:
    for conversation_id, scope in (("a", "alice"), ("b", "bob"), ("c", "alice")):
        await turn(conversation_store, conversation_id, "Hello", scope=scope)
    listed = await conversation_store.list_conversations()
    assert [r.conversation_id for r in listed] == ["c", "b", "a"]
    alice = await conversation_store.list_conversations(scope="alice")
    assert [r.conversation_id for r in alice] == ["c", "a"]
    assert [r.conversation_id for r in await conversation_store.list_conversations(limit=1)] == [
        "c"
    ]
    assert listed[0] == await conversation_store.read_record("c")
    with pytest.raises(UserError, match="negative"):
        await conversation_store.list_conversations(limit=-1)


async def test_delete_keeps_other_scopes_and_a_remade_conversation_refuses_old_copies(
    conversation_store: HistoryConversationStore,
) -> None:
    await turn(conversation_store, "c", "Hello", scope="alice")
    old = await conversation_store.load("c")
    assert old is not None
    await conversation_store.delete("c", scope="bob")
    assert await conversation_store.load("c") is not None
    await conversation_store.delete("c")
    assert await conversation_store.load("c") is None
    assert await conversation_store.history.load_messages("c") == []
    await conversation_store.save(Conversation(conversation_id="c"))
    with pytest.raises(ConversationConflict):
        await conversation_store.save(await agent.run("Stale", conversation=old))
    with pytest.raises(ConversationConflict):
        await conversation_store.delete_record("c", expected_revision=old.revision or "")
    await conversation_store.delete("missing")  # nothing to delete: no error


async def test_usage_and_deferred_tool_requests_are_kept_and_a_branch_away_drops_them(
    conversation_store: HistoryConversationStore, session_history_config: HistoryConfig
) -> None:
    conversation = Conversation(conversation_id="c")
    paused = await agent.run("delete notes.txt", conversation=conversation)
    assert isinstance(paused.output, DeferredToolRequests)
    await conversation_store.save(paused)
    async with another_store(session_history_config) as reopened:
        loaded = await reopened.load("c")
    assert loaded is not None
    assert loaded.deferred_tool_requests == paused.output
    assert loaded.usage == paused.usage
    answers = DeferredToolResults(approvals={paused.output.approvals[0].tool_call_id: True})
    done = await agent.run(conversation=loaded, deferred_tool_results=answers)
    await conversation_store.save(done)
    finished = await conversation_store.load("c")
    assert finished is not None and finished.deferred_tool_requests is None
    assert finished.messages == done.all_messages() and finished.usage == done.usage
    # Paused again, then a branch back before the pause: nothing is waiting there.
    again = await agent.run("delete more.txt", conversation=finished)
    await conversation_store.save(again)
    waiting = await conversation_store.load("c")
    assert waiting is not None and waiting.deferred_tool_requests is not None
    back = await conversation_store.branch("c", at=2, expected_revision=waiting.revision)
    assert back.deferred_tool_requests is None
    assert back.usage == again.usage  # what was spent stays spent


async def test_a_conversation_is_an_ordinary_session(
    conversation_store: HistoryConversationStore,
    session_history: SessionHistory,
    session_history_db: object,
) -> None:
    await turn(conversation_store, "c", "Weather in Zürich?", scope="alice")
    summary = await session_history.get_summary("c")
    assert summary is not None
    assert (summary.agent_name, summary.model, summary.scope) == (
        "pydantic-ai",
        "function:reply:stream_reply",
        "alice",
    )
    assert summary.usage is not None and summary.usage.input_tokens > 0
    hits = await session_history.search("Zürich")
    assert {hit.session_id for hit in hits} == {"c"}
    result = CliRunner().invoke(cli, ["--db", str(session_history_db), "show", "c"])
    assert result.exit_code == 0, result.output
    assert "rain in Zürich" in result.output
    listed = CliRunner().invoke(cli, ["--db", str(session_history_db), "list", "--scope", "bob"])
    assert listed.exit_code == 0 and "c" not in listed.output.split()


async def test_a_session_written_by_pydantic_ai_history_loads_as_a_conversation(
    conversation_store: HistoryConversationStore, session_history: SessionHistory
) -> None:
    history = PydanticAIHistory(session_history)
    ran = await history.run(agent, "Weather in Oslo?", session_id="s")
    loaded = await conversation_store.load("s")
    assert loaded is not None and loaded.messages == ran.all_messages()
    result = await agent.run("Thanks", conversation=loaded)
    await conversation_store.save(result)
    assert await history.load("s") == result.all_messages()
    # And messages stored by other code read by role, each message ending at its entry.
    await session_history.append_messages("s", to_chat_messages(result.new_messages()))
    entries = await conversation_store.load_entries("s")
    assert entries is not None and len(entries) == len(result.all_messages()) + 2


async def test_update_is_not_supported_yet(conversation_store: HistoryConversationStore) -> None:
    await turn(conversation_store, "c", "Hello")
    with pytest.raises(NotImplementedError, match="write_details"):
        await conversation_store.update("c", title="Greetings")


async def test_a_new_conversation_that_continues_an_entry_must_be_a_fork(
    conversation_store: HistoryConversationStore,
) -> None:
    await turn(conversation_store, "c", "Hello")
    record = await conversation_store.read_record("c")
    assert record is not None
    new = ConversationRecord(conversation_id="d", head_id=record.head_id)
    with pytest.raises(UserError, match="is a fork"):
        await conversation_store.write_record(new, expected_revision=None)
    assert await conversation_store.read_record("d") is None
    fork = dataclasses.replace(new, forked_from="c")
    await conversation_store.write_record(fork, expected_revision=None)
    loaded = await conversation_store.load("d")
    assert loaded is not None and loaded.revision == fork.revision
