"""CPU per append on PostgreSQL, client and server, next to langchain-postgres.

Run by hand on the machine that runs the server (it reads the server backends' CPU counters
from /proc): ``python bench/cpu_postgres.py postgresql://postgres@127.0.0.1:5432/test``. One
writer appends one message per call through LangChain's sync ``add_message``; the client's CPU is
this process's (all threads), the server's is that of the backends serving it. With several
writers on a machine of few cores, CPU per append is what sets appends/s.
"""

from __future__ import annotations

import resource
import sys
import time
import uuid
import warnings

import psycopg
from common import TEXT, cpu_seconds
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import AIMessage, HumanMessage
from langchain_postgres import PostgresChatMessageHistory

from langchain_session_history import SessionChatMessageHistory
from session_history import HistoryConfig, SyncSessionHistory
from session_history.testing import drop_schema, with_schema

APPENDS = 1500


def backends(url: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(r[0]) for r in rows]


def measure(label: str, url: str, chat: BaseChatMessageHistory) -> None:
    chat.add_message(HumanMessage(TEXT))  # connect, create the session
    pids = backends(url)
    server0, usage0, began = cpu_seconds(pids), resource.getrusage(0), time.perf_counter()
    for i in range(APPENDS):
        chat.add_message(HumanMessage(TEXT) if i % 2 == 0 else AIMessage(TEXT))
    wall = time.perf_counter() - began
    usage1, server1 = resource.getrusage(0), cpu_seconds(pids)
    client = usage1.ru_utime + usage1.ru_stime - usage0.ru_utime - usage0.ru_stime
    print(
        f"{label:<20} wall {wall / APPENDS * 1e6:5.0f} us   client CPU "
        f"{client / APPENDS * 1e6:5.0f} us   server CPU "
        f"{(server1 - server0) / APPENDS * 1e6:5.0f} us   per append"
    )


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/test"
    ours = with_schema(url, f"cpu_{uuid.uuid4().hex[:8]}")
    try:
        config = HistoryConfig(enabled=True, url=ours, load_entrypoint_plugins=False)
        with SyncSessionHistory(config) as store:
            measure("session-history", url, SessionChatMessageHistory("cpu", store))
    finally:
        drop_schema(ours)
    warnings.simplefilter("ignore")
    table = f"lc_cpu_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url) as conn:
        PostgresChatMessageHistory.create_tables(conn, table)
        try:
            chat = PostgresChatMessageHistory(table, str(uuid.uuid4()), sync_connection=conn)
            measure("langchain-postgres", url, chat)
        finally:
            conn.rollback()
            conn.execute(f'DROP TABLE "{table}"')
            conn.commit()


if __name__ == "__main__":
    main()
