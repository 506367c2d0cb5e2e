"""Random sequences of operations against the store and against a plain in-memory model."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from session_history import (
    ChatMessage,
    HistoryConfig,
    Session,
    SessionExistsError,
    SessionNotFoundError,
    SyncSessionHistory,
    ToolCall,
)
from session_history.testing import drop_schema, with_schema

POSTGRES_ENV = "SESSION_HISTORY_TEST_POSTGRES_URL"

IDS = st.sampled_from(["a", "b", "c", "d", "é 🌍"])
AGENTS = st.sampled_from(["planner", "coder"])

# No U+0000: PostgreSQL cannot store it (the backend refuses it, tested in test_postgres.py).
CHARS = st.characters(codec="utf-8", exclude_characters="\x00")
TEXT = st.text(alphabet=CHARS, max_size=20)

messages = st.lists(
    st.builds(
        ChatMessage,
        role=st.sampled_from(["system", "user", "assistant", "tool"]),
        content=st.one_of(st.none(), TEXT),
        tool_calls=st.one_of(
            st.none(),
            st.lists(
                st.builds(
                    ToolCall,
                    id=st.text(alphabet=CHARS, min_size=1, max_size=5),
                    name=st.sampled_from(["search", "read"]),
                    arguments=st.dictionaries(
                        st.text(alphabet=CHARS, max_size=3), st.integers(), max_size=2
                    ),
                ),
                max_size=2,
            ),
        ),
    ),
    max_size=4,
)


class StoreVersusModel(RuleBasedStateMachine):
    def config(self) -> HistoryConfig:
        return HistoryConfig(
            enabled=True, db_path=Path(self.directory) / "h.db", load_entrypoint_plugins=False
        )

    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.mkdtemp()
        self.store = SyncSessionHistory(self.config())
        # id -> (agent, messages); and id -> logical time of the last write (for list order)
        self.model: dict[str, tuple[str, list[ChatMessage]]] = {}
        self.touched: dict[str, int] = {}
        self.clock = itertools.count()

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        self.cleanup()

    def cleanup(self) -> None:
        """Nothing beyond the directory on SQLite."""

    def _touch(self, session_id: str) -> None:
        self.touched[session_id] = next(self.clock)

    @rule(session_id=IDS, agent=AGENTS, new=messages)
    def create(self, session_id: str, agent: str, new: list[ChatMessage]) -> None:
        s = Session(session_id=session_id, agent_name=agent, model="m", messages=new)
        if session_id in self.model:
            try:
                self.store.create_session(s)
            except SessionExistsError:
                return
            raise AssertionError("create of an existing id must fail")
        self.store.create_session(s)
        self.model[session_id] = (agent, list(new))
        self._touch(session_id)

    @rule(session_id=IDS, agent=AGENTS, new=messages, extend=st.booleans())
    def save(self, session_id: str, agent: str, new: list[ChatMessage], extend: bool) -> None:
        stored = self.model.get(session_id, (agent, []))[1]
        full = [*stored, *new] if extend else list(new)
        self.store.save_session(
            Session(session_id=session_id, agent_name=agent, model="m", messages=full)
        )
        self.model[session_id] = (agent, full)
        self._touch(session_id)

    @rule(session_id=IDS, new=messages)
    def append(self, session_id: str, new: list[ChatMessage]) -> None:
        if session_id not in self.model:
            try:
                self.store.append_messages(session_id, new)
            except SessionNotFoundError:
                return
            raise AssertionError("append to a missing session must fail")
        self.store.append_messages(session_id, new)
        self.model[session_id][1].extend(new)
        self._touch(session_id)

    @rule(session_id=IDS)
    def delete(self, session_id: str) -> None:
        assert self.store.delete_session(session_id) is (session_id in self.model)
        self.model.pop(session_id, None)
        self.touched.pop(session_id, None)

    @precondition(lambda self: len(self.model) > 1)
    @rule(keep=st.integers(min_value=0, max_value=3))
    def prune(self, keep: int) -> None:
        pruned = self.store.prune(max_sessions=keep)
        expected = self._order()[keep:]
        assert sorted(s.id for s in pruned) == sorted(expected)
        for session_id in expected:
            del self.model[session_id]
            del self.touched[session_id]

    @rule(session_id=IDS)
    def load(self, session_id: str) -> None:
        loaded = self.store.load_session(session_id)
        if session_id not in self.model:
            assert loaded is None
            return
        assert loaded is not None
        agent, expected = self.model[session_id]
        assert (loaded.agent_name, loaded.messages) == (agent, expected)

    def _order(self) -> list[str]:
        return sorted(self.touched, key=self.touched.__getitem__, reverse=True)

    @invariant()
    def listing_matches_the_model(self) -> None:
        listed = self.store.list_sessions()
        assert [s.id for s in listed] == self._order()
        for summary in listed:
            agent, expected = self.model[summary.id]
            assert summary.agent_name == agent
            assert summary.message_count == len(expected)
            assert summary.tool_call_count == sum(len(m.tool_calls or []) for m in expected)
        assert self.store.session_count() == len(self.model)


class PostgresStoreVersusModel(StoreVersusModel):
    """The same machine on PostgreSQL, a schema per example."""

    def config(self) -> HistoryConfig:
        self.schema = f"sh_state_{uuid.uuid4().hex[:12]}"
        url = os.environ[POSTGRES_ENV]
        return HistoryConfig(
            enabled=True, url=with_schema(url, self.schema), load_entrypoint_plugins=False
        )

    def cleanup(self) -> None:
        drop_schema(with_schema(os.environ[POSTGRES_ENV], self.schema))


SETTINGS = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
StoreVersusModel.TestCase.settings = SETTINGS
PostgresStoreVersusModel.TestCase.settings = settings(SETTINGS, max_examples=10)
TestStoreVersusModel = StoreVersusModel.TestCase


@pytest.mark.session_history(backends=["postgresql"])  # deselected without a server
class TestPostgresStoreVersusModel(PostgresStoreVersusModel.TestCase):  # type: ignore[name-defined,misc]
    pass
