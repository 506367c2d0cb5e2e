"""pydantic-ai's Vercel AI adapter with ``conversation_store=`` our store: a chat app whose
conversations the server keeps, and which survive a restart of the app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic_ai.ui.vercel_ai import VercelAIAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient
from store_cases import weather_agent

from pydantic_ai_session_history import HistoryConversationStore
from session_history import HistoryConfig, SessionHistory

agent = weather_agent()


def chat_app(config: HistoryConfig) -> Starlette:
    """The app of the README's example: the store opened for the app's lifetime."""
    stores: dict[str, HistoryConversationStore] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with SessionHistory(config) as history:
            stores["conversations"] = HistoryConversationStore(history)
            yield

    async def chat(request: Request) -> Response:
        return await VercelAIAdapter.dispatch_request(
            request,
            agent=agent,
            conversation_store=stores["conversations"],
            conversation_scope="alice",
        )

    return Starlette(routes=[Route("/chat", chat, methods=["POST"])], lifespan=lifespan)


def say(client: TestClient, chat_id: str, message_id: str, text: str) -> list[dict[str, object]]:
    body = {
        "trigger": "submit-message",
        "id": chat_id,
        "messages": [{"id": message_id, "role": "user", "parts": [{"type": "text", "text": text}]}],
    }
    response = client.post("/chat", json=body)
    assert response.status_code == 200, response.text
    events = [
        json.loads(line[len("data: ") :])
        for line in response.text.splitlines()
        if line.startswith("data: {")
    ]
    assert not [e for e in events if e.get("type") == "error"], events
    return events


def test_a_vercel_ai_chat_keeps_its_conversations_through_a_restart(
    session_history_config: HistoryConfig,
) -> None:
    with TestClient(chat_app(session_history_config)) as client:
        say(client, "chat-1", "m1", "Weather in Oslo?")
    with TestClient(chat_app(session_history_config)) as client:  # the app restarted
        events = say(client, "chat-1", "m2", "Thanks")
    texts = "".join(str(e.get("delta", "")) for e in events if e.get("type") == "text-delta")
    assert texts == "You said: Thanks"
    with TestClient(chat_app(session_history_config)) as client:
        say(client, "chat-2", "m1", "Hello")

    async def stored() -> list[object]:
        async with SessionHistory(session_history_config) as history:
            store = HistoryConversationStore(history)
            loaded = await store.load("chat-1", scope="alice")
            listed = await store.list_conversations(scope="alice")
            assert loaded is not None
            return [
                len(loaded.messages),
                loaded.usage.requests,
                [r.conversation_id for r in listed],
            ]

    assert asyncio.run(stored()) == [6, 3, ["chat-2", "chat-1"]]
