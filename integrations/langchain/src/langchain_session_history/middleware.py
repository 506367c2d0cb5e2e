"""``SessionHistoryMiddleware``: record every LangChain 1.x agent run as a session.

Add it to ``create_agent(..., middleware=[SessionHistoryMiddleware(history)])``. After each model
call, and once more when the run ends, it appends the messages the agent state gained since the
last time it wrote -- the user's input, model replies with their tool calls, tool results -- so a
run can be listed, searched and exported while it is still going.

Which session: ``config["configurable"]["session_id"]`` (the key is configurable), else the
run's ``thread_id``, else a new id for the run. How far it has written is kept in the agent
state itself (a private attribute), so with a checkpointer a thread's next run continues where
the last one stopped, and concurrent runs never share a counter.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, NotRequired

from langchain.agents.middleware import AgentMiddleware, AgentState
from langchain.agents.middleware.types import PrivateStateAttr
from langchain_core.messages import AIMessage, BaseMessage
from langgraph.config import get_config
from langgraph.runtime import Runtime

from session_history import SessionHistory, SyncSessionHistory, run_sync

from .history import append_or_create

__all__ = ["SessionHistoryMiddleware", "SessionHistoryState"]


class SessionHistoryState(AgentState[Any]):
    """The agent state with what the recorder needs to remember between its hooks."""

    session_history_id: NotRequired[Annotated[str, PrivateStateAttr]]
    session_history_recorded: NotRequired[Annotated[int, PrivateStateAttr]]


class SessionHistoryMiddleware(AgentMiddleware[SessionHistoryState, Any, Any]):
    """Appends each agent run's new messages to a session of ``history``.

    Args:
        history: An open ``SessionHistory`` or ``SyncSessionHistory``.
        agent_name: Recorded on sessions this middleware creates.
        model: Recorded on sessions it creates; by default the ``model_name`` the first model
            reply reports, else ``"unknown"``.
        session_id_key: The ``configurable`` key that names the session.
    """

    state_schema = SessionHistoryState

    def __init__(
        self,
        history: SessionHistory | SyncSessionHistory,
        *,
        agent_name: str = "agent",
        model: str | None = None,
        session_id_key: str = "session_id",
    ) -> None:
        super().__init__()
        self.history = history.history if isinstance(history, SyncSessionHistory) else history
        self.agent_name = agent_name
        self.model = model
        self.session_id_key = session_id_key

    # -- the implementation -------------------------------------------------------------------

    def _session_id(self, state: SessionHistoryState) -> str:
        try:
            configurable = get_config().get("configurable") or {}
        except RuntimeError:  # called outside a graph run
            configurable = {}
        for key in (self.session_id_key, "thread_id"):
            value = configurable.get(key)
            if value:
                return str(value)
        return state.get("session_history_id") or f"run-{uuid.uuid4().hex}"

    async def _record(self, state: SessionHistoryState, session_id: str) -> dict[str, Any] | None:
        messages: list[BaseMessage] = list(state["messages"])
        recorded = state.get("session_history_recorded", 0)
        update: dict[str, Any] = {}
        if state.get("session_history_id") != session_id:
            update["session_history_id"] = session_id
        if recorded > len(messages):
            # Messages were removed (summarisation, RemoveMessage): what is stored stays.
            recorded = len(messages)
        new = messages[recorded:]
        if new:
            await append_or_create(
                self.history,
                session_id,
                new,
                agent_name=self.agent_name,
                model=self.model or _model_name(new),
            )
        if new or recorded != state.get("session_history_recorded", 0):
            update["session_history_recorded"] = len(messages)
        return update or None

    # -- the doors LangChain calls: sync for invoke/stream, async for ainvoke/astream ----------
    # The session id is read here, in the run's own context: the run configuration lives in a
    # context variable that the background loop behind run_sync does not see.

    def after_model(
        self, state: SessionHistoryState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        return run_sync(self._record, state, self._session_id(state))

    async def aafter_model(
        self, state: SessionHistoryState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        return await self._record(state, self._session_id(state))

    def after_agent(
        self, state: SessionHistoryState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        return run_sync(self._record, state, self._session_id(state))

    async def aafter_agent(
        self, state: SessionHistoryState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        return await self._record(state, self._session_id(state))


def _model_name(messages: list[BaseMessage]) -> str:
    for message in messages:
        if isinstance(message, AIMessage):
            name = message.response_metadata.get("model_name") or message.response_metadata.get(
                "model"
            )
            if isinstance(name, str) and name:
                return name
    return "unknown"
