"""``SessionHistoryMiddleware``: record every LangChain 1.x agent run as a session.

Add it to ``create_agent(..., middleware=[SessionHistoryMiddleware(history)])``. After each model
call, and once more when the run ends, it appends the messages the agent state gained since the
last time it wrote -- the user's input, model replies with their tool calls, tool results -- so a
run can be listed, searched and exported while it is still going.

Which session: ``config["configurable"]["session_id"]`` (the key is configurable), else the
run's ``thread_id``, else a new id for the run. How far it has written is kept in the agent
state itself (a private attribute), so with a checkpointer a thread's next run continues where
the last one stopped, and concurrent runs never share a counter.

Which model a new session records: ``model=`` when given; else the model name a reply reports
(``response_metadata["model_name"]`` or ``["model"]``: what the provider says it ran); else the
name of the chat model the agent called, which ``wrap_model_call`` sees and leaves in the state
(a private attribute) for the recording hooks; else ``"unknown"``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NotRequired

from langchain.agents.middleware import AgentMiddleware, AgentState
from langchain.agents.middleware.types import (
    ExtendedModelResponse,
    ModelRequest,
    ModelResponse,
    PrivateStateAttr,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langgraph.config import get_config
from langgraph.runtime import Runtime
from langgraph.types import Command

from session_history import SessionHistory, SyncSessionHistory, run_sync

from .history import append_or_create

__all__ = ["SessionHistoryMiddleware", "SessionHistoryState"]


class SessionHistoryState(AgentState[Any]):
    """The agent state with what the recorder needs to remember between its hooks."""

    session_history_id: NotRequired[Annotated[str, PrivateStateAttr]]
    session_history_recorded: NotRequired[Annotated[int, PrivateStateAttr]]
    session_history_model: NotRequired[Annotated[str, PrivateStateAttr]]


class SessionHistoryMiddleware(AgentMiddleware[SessionHistoryState, Any, Any]):
    """Appends each agent run's new messages to a session of ``history``.

    Args:
        history: An open ``SessionHistory`` or ``SyncSessionHistory``.
        agent_name: Recorded on sessions this middleware creates.
        model: Recorded on sessions it creates. By default: the model name a reply reports
            (``response_metadata``), else the name of the chat model the agent called, else
            ``"unknown"``.
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
                model=self.model
                or _reported_model(new)
                or state.get("session_history_model")
                or "unknown",
            )
        if new or recorded != state.get("session_history_recorded", 0):
            update["session_history_recorded"] = len(messages)
        return update or None

    def _remember_model(
        self, request: ModelRequest[Any], response: ModelResponse[Any]
    ) -> ModelResponse[Any] | ExtendedModelResponse[Any]:
        """The response, with the called model's name left in the state when it is new there."""
        name = _configured_model(request.model, request.model_settings)
        if name is None or request.state.get("session_history_model") == name:
            return response
        return ExtendedModelResponse(
            model_response=response, command=Command(update={"session_history_model": name})
        )

    # -- the doors LangChain calls: sync for invoke/stream, async for ainvoke/astream ----------
    # The session id is read here, in the run's own context: the run configuration lives in a
    # context variable that the background loop behind run_sync does not see.

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any] | AIMessage | ExtendedModelResponse[Any]:
        return self._remember_model(request, handler(request))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any] | AIMessage | ExtendedModelResponse[Any]:
        return self._remember_model(request, await handler(request))

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


def _reported_model(messages: list[BaseMessage]) -> str | None:
    """The model name the first reply that reports one gives, as its provider wrote it."""
    for message in messages:
        if isinstance(message, AIMessage):
            metadata = message.response_metadata
            name = metadata.get("model_name") or metadata.get("model")
            if isinstance(name, str) and name:
                return name
    return None


def _configured_model(model: BaseChatModel, settings: dict[str, Any]) -> str | None:
    """The name a chat model is configured with, as LangChain's tracing reads it.

    ``_get_ls_params`` is how langchain-core and every provider package name a model for
    LangSmith (``model``, ``model_name``, ``model_id``, a per-call ``model=`` setting...). It is
    underscored, so anything unexpected from it falls back to the common attributes.
    """
    try:
        name = model._get_ls_params(**settings).get("ls_model_name")
    except Exception:  # noqa: BLE001 - a provider's tracing hook must never break a run
        name = None
    if not isinstance(name, str) or not name:
        name = getattr(model, "model_name", None) or getattr(model, "model", None)
    return name if isinstance(name, str) and name else None
