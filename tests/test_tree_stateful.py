"""Random appends, pops, branches, switches, forks and deletes against the store and against a
plain in-memory model of the tree: every session's path (entry ids and contents), its branches,
its counts, and (on SQLite) that exactly the entries some path reaches are stored."""

from __future__ import annotations

import itertools
import os
import shutil
import sqlite3
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from session_history import (
    ChatMessage,
    HistoryConfig,
    InvalidQueryError,
    Session,
    SessionExistsError,
    SyncSessionHistory,
)
from session_history.testing import drop_schema, with_schema

POSTGRES_ENV = "SESSION_HISTORY_TEST_POSTGRES_URL"
IDS = st.sampled_from(["a", "b", "c", "d"])


@dataclass
class Model:
    """A session as the model keeps it: its path and its other branches, as entry ids."""

    path: list[str] = field(default_factory=list)
    branches: list[list[str]] = field(default_factory=list)

    def move_to(self, new: list[str]) -> None:
        """The rule of ``branch_session``: the branch left stays unless the new path holds it;
        branches the new path holds are no branches of their own any longer."""
        if new == self.path:
            return
        if self.path and self.path != new[: len(self.path)] and self.path not in self.branches:
            self.branches.append(self.path)
        self.branches = [b for b in self.branches if b != new[: len(b)]]
        self.path = new


class TreeVersusModel(RuleBasedStateMachine):
    def config(self) -> HistoryConfig:
        return HistoryConfig(
            enabled=True, db_path=Path(self.directory) / "h.db", load_entrypoint_plugins=False
        )

    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.mkdtemp()
        self.store = SyncSessionHistory(self.config())
        self.model: dict[str, Model] = {}
        self.content: dict[str, str] = {}  # entry id -> its message's content
        self.counter = itertools.count()

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        self.cleanup()

    def cleanup(self) -> None:
        """Nothing beyond the directory on SQLite."""

    def stored_entries(self) -> int | None:
        path = Path(self.directory) / "h.db"
        with sqlite3.connect(path) as conn:
            (n,) = conn.execute("SELECT count(*) FROM messages").fetchone()
        return int(n)

    @rule(session_id=IDS, n=st.integers(min_value=0, max_value=3))
    def append(self, session_id: str, n: int) -> None:
        messages = [ChatMessage(role="user", content=f"m{next(self.counter)}") for _ in range(n)]
        create = Session(session_id=session_id, agent_name="a", model="m")
        ids = self.store.append_messages(session_id, messages, create=create)
        assert len(ids) == n and len(set(ids)) == n
        model = self.model.setdefault(session_id, Model())
        model.path.extend(ids)
        self.content.update(zip(ids, (m.content or "" for m in messages), strict=True))

    @precondition(lambda self: self.model)
    @rule(data=st.data(), n=st.integers(min_value=1, max_value=3))
    def pop(self, data: st.DataObject, n: int) -> None:
        session_id = data.draw(st.sampled_from(sorted(self.model)))
        model = self.model[session_id]
        popped = self.store.pop_messages(session_id, n)
        expected = model.path[max(len(model.path) - n, 0) :]
        assert [m.entry_id for m in popped] == expected
        del model.path[len(model.path) - len(expected) :]

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def branch(self, data: st.DataObject) -> None:
        session_id = data.draw(st.sampled_from(sorted(self.model)))
        model = self.model[session_id]
        at = data.draw(st.integers(min_value=0, max_value=len(model.path) + 1))
        if at > len(model.path):
            with pytest.raises(InvalidQueryError):
                self.store.branch_session(session_id, at=at)
            return
        summary = self.store.branch_session(session_id, at=at)
        model.move_to(model.path[:at])
        assert summary.message_count == at

    @precondition(lambda self: any(m.branches for m in self.model.values()))
    @rule(data=st.data())
    def switch(self, data: st.DataObject) -> None:
        session_id = data.draw(
            st.sampled_from(sorted(k for k, m in self.model.items() if m.branches))
        )
        model = self.model[session_id]
        other = data.draw(st.sampled_from(model.branches))
        cut = data.draw(st.integers(min_value=1, max_value=len(other)))
        self.store.branch_session(session_id, from_entry=other[cut - 1])
        model.move_to(other[:cut])

    @precondition(lambda self: self.model)
    @rule(data=st.data(), new_id=IDS)
    def fork(self, data: st.DataObject, new_id: str) -> None:
        source = data.draw(st.sampled_from(sorted(self.model)))
        at = data.draw(st.integers(min_value=0, max_value=len(self.model[source].path)))
        if new_id in self.model:
            with pytest.raises(SessionExistsError):
                self.store.fork_session(source, new_id, at=at)
            return
        summary = self.store.fork_session(source, new_id, at=at)
        path = self.model[source].path[:at]
        assert (summary.forked_from, summary.forked_at) == (source, path[-1] if path else None)
        self.model[new_id] = Model(path=list(path))

    @rule(session_id=IDS)
    def delete(self, session_id: str) -> None:
        assert self.store.delete_session(session_id) is (session_id in self.model)
        self.model.pop(session_id, None)

    @invariant()
    def every_session_reads_as_its_model(self) -> None:
        for session_id, model in self.model.items():
            messages = self.store.load_messages(session_id)
            assert [m.entry_id for m in messages] == model.path
            assert [m.content for m in messages] == [self.content[e] for e in model.path]
            tail = self.store.load_messages(session_id, last=2)
            assert [m.entry_id for m in tail] == model.path[-2:]
            summary = self.store.get_summary(session_id)
            assert summary is not None
            assert summary.message_count == len(model.path)
            assert summary.head == (model.path[-1] if model.path else None)
            branches = {(b.tip, b.length, b.current) for b in self.store.list_branches(session_id)}
            expected = {(model.path[-1] if model.path else None, len(model.path), True)}
            expected |= {(b[-1], len(b), False) for b in model.branches}
            assert branches == expected

    @invariant()
    def exactly_what_some_path_reaches_is_stored(self) -> None:
        stored = self.stored_entries()
        if stored is None:
            return
        reached = {e for m in self.model.values() for p in [m.path, *m.branches] for e in p}
        assert stored == len(reached)


class PostgresTreeVersusModel(TreeVersusModel):
    """The same machine on PostgreSQL, a schema per example."""

    def config(self) -> HistoryConfig:
        self.schema = f"sh_tree_{uuid.uuid4().hex[:12]}"
        url = os.environ[POSTGRES_ENV]
        return HistoryConfig(
            enabled=True, url=with_schema(url, self.schema), load_entrypoint_plugins=False
        )

    def stored_entries(self) -> int | None:
        return None  # counted on SQLite; the rules of what stays are the shared tree.py's

    def cleanup(self) -> None:
        drop_schema(with_schema(os.environ[POSTGRES_ENV], self.schema))


SETTINGS = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TreeVersusModel.TestCase.settings = SETTINGS
PostgresTreeVersusModel.TestCase.settings = settings(SETTINGS, max_examples=10)
TestTreeVersusModel = TreeVersusModel.TestCase


@pytest.mark.session_history(backends=["postgresql"])  # deselected without a server
class TestPostgresTreeVersusModel(PostgresTreeVersusModel.TestCase):  # type: ignore[name-defined,misc]
    pass
