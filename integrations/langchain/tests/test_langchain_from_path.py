"""SessionChatMessageHistory.from_path: one store per database, shared, never leaked.

LangChain users write ``lambda session_id: SomeChatMessageHistory(session_id, connection)``: a
new history per call. ``from_path`` in such a factory must not open (and leak) a store per call.
These tests run with warnings as errors, so a store left open and collected fails them.
"""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core._api.deprecation import LangChainDeprecationWarning
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from langchain_session_history import SessionChatMessageHistory, close_shared_stores
from session_history import DatabaseError, HistoryConfig, SessionHistory, SyncSessionHistory


def location(config: HistoryConfig) -> str:
    return config.url or str(config.db_path)


@pytest.fixture(autouse=True)
def no_store_outlives_the_test() -> Iterator[None]:
    yield
    close_shared_stores()  # before the PostgreSQL schema is dropped


def test_from_path_in_a_runnable_factory_opens_one_store_and_leaks_nothing(
    session_history_config: HistoryConfig,
) -> None:
    stores: list[SessionHistory] = []

    def factory(session_id: str) -> SessionChatMessageHistory:
        chat = SessionChatMessageHistory.from_path(session_id, location(session_history_config))
        stores.append(chat.history)
        return chat  # never closed: RunnableWithMessageHistory does not close what it gets

    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{question}")]
    )
    model = GenericFakeChatModel(messages=iter([AIMessage(f"answer {i}") for i in range(4)]))
    with pytest.warns(LangChainDeprecationWarning, match="RunnableWithMessageHistory"):
        chain = RunnableWithMessageHistory(
            prompt | model,
            factory,
            input_messages_key="question",
            history_messages_key="history",
        )
    for i, session_id in enumerate(["a", "a", "b", "a"]):
        chain.invoke(
            {"question": f"question {i}"}, config={"configurable": {"session_id": session_id}}
        )
    gc.collect()  # a store opened per call and dropped would warn here, as an error
    assert len(stores) == 4 and all(store is stores[0] for store in stores)
    with SyncSessionHistory(session_history_config) as check:
        a = check.load_session("a")
        assert a is not None and len(a.messages) == 6


def test_histories_of_one_database_share_a_store_until_the_last_is_closed(
    session_history_config: HistoryConfig, tmp_path: Path
) -> None:
    with SessionChatMessageHistory.from_path("one", location(session_history_config)) as first:
        with SessionChatMessageHistory.from_path("two", location(session_history_config)) as second:
            assert first.history is second.history
            first.add_messages([HumanMessage("hi")])
        assert first.history.is_open  # still used by the first
        assert [m.content for m in first.messages] == ["hi"]
        first.close()
        first.close()  # twice is once
        assert not first.history.is_open
    with SessionChatMessageHistory.from_path("one", location(session_history_config)) as again:
        assert again.history is not first.history and again.history.is_open
        assert [m.content for m in again.messages] == ["hi"]
        with SessionChatMessageHistory.from_path("x", tmp_path / "other.db") as other:
            assert other.history is not again.history


def test_a_relative_and_an_absolute_path_name_one_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with (
        SessionChatMessageHistory.from_path("s", "h.db") as relative,
        SessionChatMessageHistory.from_path("s", tmp_path / "h.db") as absolute,
    ):
        assert relative.history is absolute.history


def test_plugins_given_to_from_path_are_those_of_its_store(tmp_path: Path) -> None:
    class Plugin:
        pass

    plugin = Plugin()
    path = tmp_path / "h.db"
    with (
        SessionChatMessageHistory.from_path("s", path, plugins=[plugin]) as with_plugin,
        SessionChatMessageHistory.from_path("s", path, plugins=[plugin]) as same_plugin,
        SessionChatMessageHistory.from_path("s", path) as without,
    ):
        assert with_plugin.history is same_plugin.history
        assert with_plugin.history.plugin_manager.is_registered(plugin)
        assert without.history is not with_plugin.history
        assert not without.history.plugin_manager.is_registered(plugin)


def test_the_readme_factory_in_a_script_exits_cleanly(
    session_history_config: HistoryConfig,
) -> None:
    """The README's one-line factory, never closed, under -X dev -W error: the store is closed
    at exit, nothing is printed, and what was written is there."""
    script = (
        "import sys\n"
        "from langchain_core.messages import HumanMessage\n"
        "from langchain_session_history import SessionChatMessageHistory\n"
        "get_history = lambda session_id: SessionChatMessageHistory.from_path(session_id, "
        "sys.argv[1])\n"
        "for i in range(5):\n"
        "    get_history('chat-1').add_messages([HumanMessage(str(i))])\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-X",
            "dev",
            "-W",
            "error",
            "-c",
            script,
            location(session_history_config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stderr) == (0, "")
    with SyncSessionHistory(session_history_config) as check:
        assert [m.content for m in check.load_messages("chat-1")] == ["0", "1", "2", "3", "4"]


def test_close_shared_stores_closes_them_all_and_the_next_from_path_opens_afresh(
    tmp_path: Path,
) -> None:
    kept = SessionChatMessageHistory.from_path("s", tmp_path / "h.db")
    kept.add_messages([HumanMessage("hi")])
    close_shared_stores()
    assert not kept.history.is_open
    kept.close()  # returning a hold on a store already closed is harmless
    with SessionChatMessageHistory.from_path("s", tmp_path / "h.db") as fresh:
        assert fresh.history is not kept.history and fresh.history.is_open
        assert [m.content for m in fresh.messages] == ["hi"]


def test_a_url_made_into_a_path_is_refused_and_makes_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Path("postgresql://...")`` folds the ``//``: from_path must not take the result for a
    relative file (issue 10, point 2)."""
    monkeypatch.chdir(tmp_path)
    for given in (Path("postgresql://agent@127.0.0.1:1/db"), "postgresql:/agent@127.0.0.1:1/db"):
        with pytest.raises(DatabaseError, match=r"'//' is missing.*give the URL as a string"):
            SessionChatMessageHistory.from_path("s", given)
    assert list(tmp_path.iterdir()) == []
