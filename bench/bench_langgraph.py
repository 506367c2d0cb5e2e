"""LangGraph checkpointer benchmark: ``SessionCheckpointer`` next to langgraph-checkpoint-sqlite.

Run by hand, after ``pip install -e ".[bench]"`` (which brings the peer):
``python bench/bench_langgraph.py [--turns 50,100,200]``. Each saver keeps one thread of a
one-node ``MessagesState`` graph (a 300-character user message, a 300-character reply per turn)
in a SQLite file of its own, in one temporary directory; after each count of turns the file's
size is taken (the database and its write-ahead log, checkpointed), with the wall time per turn
(``ainvoke``: LangGraph's ``aget_tuple`` and its ``aput``s of the turn) and the time of
``aget_state`` at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from common import TEXT
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, MessagesState, StateGraph

from langchain_session_history import SessionCheckpointer
from session_history import HistoryConfig, SessionHistory

CONFIG: Any = {"configurable": {"thread_id": "bench"}}


def graph(checkpointer: Any) -> Any:
    def reply(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [AIMessage(TEXT)]}

    built = StateGraph(MessagesState)
    built.add_node("reply", reply)
    built.add_edge(START, "reply")
    built.add_edge("reply", END)
    return built.compile(checkpointer=checkpointer)


def size_mb(path: Path) -> float:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    files = [path, Path(f"{path}-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / 1e6


async def run(name: str, app: Any, path: Path, marks: list[int]) -> list[str]:
    lines, done, spent = [], 0, 0.0
    for mark in marks:
        t0 = time.perf_counter()
        while done < mark:
            await app.ainvoke({"messages": [HumanMessage(TEXT)]}, CONFIG)
            done += 1
        spent += time.perf_counter() - t0
        t0 = time.perf_counter()
        state = await app.aget_state(CONFIG)
        get_ms = (time.perf_counter() - t0) * 1000
        assert len(state.values["messages"]) == 2 * done
        lines.append(
            f"{name:<28} {done:>5} turns  {size_mb(path):>7.2f} MB  "
            f"{spent / done * 1000:>6.1f} ms/turn  get_state {get_ms:>6.1f} ms"
        )
    return lines


async def main(marks: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        peer_path = Path(tmp) / "langgraph.db"
        async with AsyncSqliteSaver.from_conn_string(str(peer_path)) as peer:
            for line in await run("AsyncSqliteSaver", graph(peer), peer_path, marks):
                print(line)
        ours_path = Path(tmp) / "session-history.db"
        config = HistoryConfig(enabled=True, db_path=ours_path)
        async with SessionHistory(config) as history:
            app = graph(SessionCheckpointer(history))
            for line in await run("SessionCheckpointer", app, ours_path, marks):
                print(line)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", default="50,100,200", help="turn counts to measure at")
    marks = sorted(int(n) for n in parser.parse_args().turns.split(","))
    asyncio.run(main(marks))
