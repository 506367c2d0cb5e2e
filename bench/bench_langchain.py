"""LangChain adapter benchmark, side by side with langchain-community's SQLChatMessageHistory.

Run by hand: ``pip install -e ".[bench]"`` then ``python bench/bench_langchain.py``. Both stores
use an SQLite file in the same temporary directory; both are driven through LangChain's sync
interface (``add_message``, ``messages``), which is what a chain calls, and ours also through
its async one.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from common import TEXT, best_ms
from langchain_community.chat_message_histories import SQLChatMessageHistory
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from langchain_session_history import SessionChatMessageHistory
from session_history import HistoryConfig, SessionHistory, SyncSessionHistory


def message(i: int) -> BaseMessage:
    return HumanMessage(TEXT) if i % 2 == 0 else AIMessage(TEXT)


def interleaved(
    ours: Callable[[], object], other: Callable[[], object], repeat: int = 10
) -> tuple[float, float]:
    """Best times of two loads measured turn about, so that a noisy neighbour hits both."""
    mine: list[float] = []
    their: list[float] = []
    for _ in range(repeat):
        mine.append(best_ms(ours, repeat=1))
        their.append(best_ms(other, repeat=1))
    return min(mine), min(their)


def theirs(path: Path, session_id: str) -> SQLChatMessageHistory:
    return SQLChatMessageHistory(session_id=session_id, connection=f"sqlite:///{path}")


def appends_per_s(history: BaseChatMessageHistory, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        history.add_message(message(i))
    return n / (time.perf_counter() - t0)


async def async_appends_per_s(store: SessionHistory, n: int) -> float:
    chat = SessionChatMessageHistory("async-appends", store)
    t0 = time.perf_counter()
    for i in range(n):
        await chat.aadd_messages([message(i)])
    return n / (time.perf_counter() - t0)


def main() -> None:
    warnings.simplefilter("ignore")  # langchain-community's own deprecation notices
    with tempfile.TemporaryDirectory() as directory:
        d = Path(directory)
        config = HistoryConfig(enabled=True, db_path=d / "ours.db", load_entrypoint_plugins=False)
        rows: list[tuple[str, str, str]] = []
        with SyncSessionHistory(config) as store:
            ours_rate = appends_per_s(SessionChatMessageHistory("appends", store), 1000)
            their_rate = appends_per_s(theirs(d / "theirs.db", "appends"), 1000)
            rows.append(
                ("add_message x 1,000: messages/s", f"{ours_rate:,.0f}", f"{their_rate:,.0f}")
            )
            async_rate = asyncio.run(async_appends_per_s(store.history, 1000))
            rows.append(("aadd_messages x 1,000: messages/s", f"{async_rate:,.0f}", "-"))

            long_ours = SessionChatMessageHistory("long", store)
            long_ours.add_messages([message(i) for i in range(4000)])
            long_theirs = theirs(d / "theirs.db", "long")
            long_theirs.add_messages([message(i) for i in range(4000)])
            assert len(long_ours.messages) == len(long_theirs.messages) == 4000
            ours_ms, theirs_ms = interleaved(
                lambda: long_ours.messages, lambda: long_theirs.messages
            )
            rows.append(
                ("messages of a 4,000-message session: ms", f"{ours_ms:.1f}", f"{theirs_ms:.1f}")
            )

        big = HistoryConfig(enabled=True, db_path=d / "ours-big.db", load_entrypoint_plugins=False)
        forty = [message(i) for i in range(40)]
        with SyncSessionHistory(big) as store:
            for s in range(5000):
                SessionChatMessageHistory(f"s{s}", store).add_messages(forty)
            for s in range(5000):
                theirs(d / "theirs-big.db", f"s{s}").add_messages(forty)
            one_ours = SessionChatMessageHistory("s2500", store)
            one_theirs = theirs(d / "theirs-big.db", "s2500")
            assert len(one_ours.messages) == len(one_theirs.messages) == 40
            ours_ms, theirs_ms = interleaved(
                lambda: one_ours.messages, lambda: one_theirs.messages, repeat=20
            )
        rows.append(
            ("40 messages from a 5,000-session db: ms", f"{ours_ms:.2f}", f"{theirs_ms:.2f}")
        )

    print(f"{'measure':<44} {'session-history':>16} {'SQLChatMessageHistory':>22}")
    for label, ours, other in rows:
        print(f"{label:<44} {ours:>16} {other:>22}")


if __name__ == "__main__":
    main()
