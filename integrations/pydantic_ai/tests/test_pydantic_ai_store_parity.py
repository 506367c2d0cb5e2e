"""One scripted scenario against pydantic-ai's own ``InMemoryConversationStore`` and against
``HistoryConversationStore``: every answer must be the same (entry ids and revisions compared
by where they first appear, since each store mints its own; times and run ids left out)."""

from __future__ import annotations

from typing import Any

from pydantic_ai import DeferredToolRequests
from pydantic_ai.conversation import Conversation, ConversationTypeAdapter
from pydantic_ai.conversation_store import (
    ConversationRecord,
    ConversationStore,
    InMemoryConversationStore,
)
from pydantic_ai.exceptions import UserError
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter
from pydantic_ai.usage import RunUsage
from store_cases import weather_agent

from pydantic_ai_session_history import HistoryConversationStore

agent = weather_agent()
_VARYING = {"timestamp", "request_timestamp", "duration", "run_id", "tool_call_id"}


def _without_varying(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_varying(v) for k, v in value.items() if k not in _VARYING}
    if isinstance(value, list):
        return [_without_varying(v) for v in value]
    return value


class Answers:
    """What a store answered, with its own ids replaced by labels in order of appearance."""

    def __init__(self) -> None:
        self.seen: list[object] = []
        self._labels: dict[str, str] = {}

    def label(self, value: str | None, kind: str) -> str | None:
        if value is None:
            return None
        return self._labels.setdefault(value, f"{kind}{len(self._labels)}")

    def add(self, what: str, value: object) -> None:
        self.seen.append((what, value))

    def messages(self, messages: list[ModelMessage]) -> object:
        return _without_varying(ModelMessagesTypeAdapter.dump_python(messages, mode="json"))

    def conversation(self, what: str, conversation: Conversation | None) -> None:
        if conversation is None:
            self.add(what, None)
            return
        deferred = conversation.deferred_tool_requests
        self.add(
            what,
            {
                "messages": self.messages(conversation.messages),
                "usage": _usage(conversation.usage),
                "revision": self.label(conversation.revision, "R"),
                "deferred": None if deferred is None else len(deferred.approvals),
                "new_message_index": conversation.new_message_index,
            },
        )

    def record(self, what: str, record: ConversationRecord | None) -> None:
        if record is None:
            self.add(what, None)
            return
        self.add(
            what,
            {
                "id": record.conversation_id,
                "head": self.label(record.head_id, "E"),
                "branches": [self.label(tip, "E") for tip in record.branches],
                "scope": record.scope,
                "forked_from": record.forked_from,
                "forked_at": self.label(record.forked_at, "E"),
                "usage": _usage(record.usage),
                "revision": self.label(record.revision, "R"),
                "deferred": record.deferred_tool_requests is not None,
            },
        )


def _usage(usage: RunUsage) -> tuple[int, int, int, int]:
    return (usage.requests, usage.tool_calls, usage.input_tokens, usage.output_tokens)


async def scenario(store: ConversationStore) -> list[object]:
    answers = Answers()

    async def turn(conversation: Conversation, prompt: str, **save: str) -> Conversation:
        result = await agent.run(prompt, conversation=conversation)
        entries = await store.save(result, **save)
        answers.add(f"saved {prompt}", [answers.label(e.id, "E") for e in entries])
        return result.conversation

    async def outcome(what: str, call: Any) -> None:
        try:
            await call
        except UserError as exc:  # ConversationConflict is one too
            answers.add(what, type(exc).__name__)
        else:
            answers.add(what, "ok")

    await turn(Conversation(conversation_id="c"), "Weather in Oslo?", scope="alice")
    loaded = await store.load("c")
    answers.conversation("load", loaded)
    assert loaded is not None
    await turn(loaded, "Hello")
    window = await store.load("c", limit=3)
    answers.conversation("load limit=3", window)
    assert window is not None
    await turn(window, "Weather in Rome?")
    answers.conversation("load after the window", await store.load("c"))
    answers.record("record", await store.read_record("c"))

    first, second = await store.load("c"), await store.load("c")
    assert first is not None and second is not None
    await turn(first, "One")
    await outcome("stale save", turn(second, "Two"))
    await outcome("new over stored", store.save(Conversation(conversation_id="c")))
    await outcome("other scope", store.save(first, scope="bob"))
    answers.conversation("load scope=bob", await store.load("c", scope="bob"))

    current = await store.read_record("c")
    assert current is not None
    branched = await store.branch("c", at=4, expected_revision=current.revision)
    answers.conversation("branch at=4", branched)
    await turn(branched, "Other")
    record = await store.read_record("c")
    answers.record("after the branch", record)
    assert record is not None
    await outcome("stale branch", store.branch("c", at=0, expected_revision=current.revision))
    back = await store.branch(
        "c", from_entry=record.branches[-1], expected_revision=record.revision
    )
    answers.conversation("branch back", back)
    answers.record("back", await store.read_record("c"))

    answers.conversation("fork", await store.fork("c", new_conversation_id="f", scope="bob"))
    answers.conversation("fork at=1", await store.fork("c", at=1, new_conversation_id="g"))
    back_record = await store.read_record("c")
    assert back_record is not None
    answers.conversation(
        "fork from a left branch",
        await store.fork("c", from_entry=back_record.branches[-1], new_conversation_id="h"),
    )
    for fork in ("f", "g", "h"):
        answers.record(f"fork {fork}", await store.read_record(fork))
    await outcome("fork onto a stored id", store.fork("c", new_conversation_id="f"))

    loaded = await store.load("c")
    assert loaded is not None
    carried = ConversationTypeAdapter.validate_json(ConversationTypeAdapter.dump_json(loaded))
    await turn(carried, "And tomorrow?")
    answers.record("serialized and continued", await store.read_record("c"))
    paused = await store.load("c")
    assert paused is not None
    result = await agent.run("delete notes.txt", conversation=paused)
    assert isinstance(result.output, DeferredToolRequests)
    await store.save(result)
    answers.conversation("paused", await store.load("c"))

    for scope, limit in ((None, None), ("alice", None), ("bob", None), (None, 2)):
        listed = await store.list_conversations(scope=scope, limit=limit)
        answers.add(f"list {scope} {limit}", [r.conversation_id for r in listed])

    await store.delete("c", scope="bob")
    answers.conversation("kept by another scope's delete", await store.load("c", limit=1))
    await store.delete("c")
    answers.conversation("deleted", await store.load("c"))
    for fork in ("f", "g", "h"):
        answers.conversation(f"fork {fork} after the delete", await store.load(fork))
    answers.add("listed after", [r.conversation_id for r in await store.list_conversations()])
    return answers.seen


async def test_the_store_answers_as_pydantic_ais_in_memory_store(
    conversation_store: HistoryConversationStore,
) -> None:
    expected = await scenario(InMemoryConversationStore())
    got = await scenario(conversation_store)
    assert [what for what, _ in got] == [what for what, _ in expected]  # type: ignore[misc]
    for (what, mine), (_, theirs) in zip(got, expected, strict=True):  # type: ignore[misc]
        assert mine == theirs, what
