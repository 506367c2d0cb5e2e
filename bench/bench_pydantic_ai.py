"""pydantic-ai store benchmark: the storage overhead of ``PydanticAIHistory.run`` per turn (its
``load`` and ``append``) over a 200-turn conversation, side by side with the usual hand-made
store: ``all_messages()`` kept in one JSON file per conversation, read and validated before each
turn and rewritten after it.

Run by hand: ``python bench/bench_pydantic_ai.py`` (``--postgres URL`` measures ours on
PostgreSQL too; ``--profile`` prints where our time goes). The conversation is made first by a
real agent run per turn (``FunctionModel``: a 300-character prompt, a tool call, its result, a
300-character answer); then each turn's storage work is timed, ours and theirs turn about, so a
noisy neighbour hits both. Bytes written are the process's ``write()`` bytes (``wchar`` in
``/proc/self/io``): SQLite's WAL and database writes for ours, the file for theirs.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from common import TEXT
from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RunUsage

from pydantic_ai_session_history import PydanticAIHistory, to_chat_messages
from session_history import HistoryConfig, SessionHistory

Turn = tuple[list[ModelMessage], RunUsage]


def written_bytes() -> int:
    """Bytes this process has passed to write() so far."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError("no wchar in /proc/self/io")


def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    last = messages[-1]
    assert isinstance(last, ModelRequest)
    if any(isinstance(part, ToolReturnPart) for part in last.parts):
        return ModelResponse(parts=[TextPart(TEXT)], model_name="bench-model")
    return ModelResponse(
        parts=[ToolCallPart("lookup", {"query": TEXT[:80], "limit": 5})], model_name="bench-model"
    )


async def conversation(turns: int) -> list[Turn]:
    """A real agent's conversation, turn by turn: each turn's new messages and usage."""
    agent = Agent(
        FunctionModel(model), instructions="Answer from the knowledge base.", name="bench"
    )

    @agent.tool_plain
    def lookup(query: str, limit: int) -> dict[str, Any]:
        """Look something up."""
        return {"hits": [{"title": f"hit {i}", "score": 0.5 + i / 10} for i in range(limit)]}

    made: list[Turn] = []
    history: list[ModelMessage] = []
    for turn in range(turns):
        result = await agent.run(f"{turn}: {TEXT}", message_history=history)
        made.append((result.new_messages(), result.usage))
        history = result.all_messages()
    return made


async def measure(
    store: SessionHistory, directory: Path, made: list[Turn], profile: cProfile.Profile | None
) -> dict[str, list[float]]:
    pai = PydanticAIHistory(store, agent_name="bench")
    session_id = f"bench-{uuid.uuid4().hex[:8]}"
    path = directory / f"{session_id}.json"
    adapter = ModelMessagesTypeAdapter
    out: dict[str, list[float]] = {
        "ours_s": [],
        "theirs_s": [],
        "ours_b": [],
        "theirs_b": [],
        "ours_p": [],
        "theirs_p": [],
    }
    # Warm up both sides (schemas are built on first use) on a conversation of their own.
    await pai.append(f"warm-{session_id}", made[0][0], usage=made[0][1])
    await pai.load(f"warm-{session_id}")
    adapter.validate_json(adapter.dump_json(made[0][0]))
    for new, usage in made:
        b0, t0 = written_bytes(), time.perf_counter()
        if profile is not None:
            profile.enable()
        loaded = await pai.load(session_id)
        await pai.append(session_id, new, usage=usage)
        if profile is not None:
            profile.disable()
        t1, b1 = time.perf_counter(), written_bytes()
        history = adapter.validate_json(path.read_bytes()) if path.exists() else []
        path.write_bytes(adapter.dump_json([*history, *new]))
        t2, b2 = time.perf_counter(), written_bytes()
        assert len(loaded) == len(history)
        out["ours_s"].append(t1 - t0)
        out["theirs_s"].append(t2 - t1)
        out["ours_b"].append(b1 - b0)
        out["theirs_b"].append(b2 - b1)
        # What each keeps, as opposed to what the database's pages cost: our new rows' JSON.
        out["ours_p"].append(
            sum(len(m.model_dump_json(exclude_defaults=True)) for m in to_chat_messages(new))
        )
        out["theirs_p"].append(path.stat().st_size)
    assert adapter.dump_json(await pai.load(session_id)) == path.read_bytes()
    return out


def report(label: str, out: dict[str, list[float]], *, io: bool = True) -> None:
    tenth = max(1, len(out["ours_s"]) // 10)

    def ms(values: list[float]) -> str:
        return f"{statistics.mean(values) * 1000:8.2f}"

    def kb(values: list[float]) -> str:
        return f"{statistics.mean(values) / 1024:9.1f}"

    rows = [
        ("ms per turn, mean of all turns", ms, slice(None)),
        ("ms per turn, first 10% of turns", ms, slice(None, tenth)),
        ("ms per turn, last 10% of turns", ms, slice(-tenth, None)),
        ("KiB written per turn, mean", kb, slice(None)),
        ("KiB written per turn, last 10%", kb, slice(-tenth, None)),
        ("KiB of JSON stored per turn, mean", kb, slice(None)),
    ]
    if not io:  # the server's writes are not this process's
        del rows[3:5]
    print(f"\n{label}: {len(out['ours_s'])} turns")
    print(f"{'measure':34} {'ours':>9} {'JSON file':>9} {'ours/theirs':>11}")
    for name, fmt, part in rows:
        kind = "s" if fmt is ms else "p" if name.startswith("KiB of JSON") else "b"
        mine, theirs = out[f"ours_{kind}"][part], out[f"theirs_{kind}"][part]
        ratio = statistics.mean(mine) / statistics.mean(theirs)
        print(f"{name:34} {fmt(mine)} {fmt(theirs)} {ratio:10.2f}x")
    median = statistics.median(out["ours_s"]) / statistics.median(out["theirs_s"])
    print(f"{'median ms ratio':34} {'':9} {'':9} {median:10.2f}x")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--postgres", metavar="URL", help="also measure ours on this server")
    parser.add_argument("--profile", action="store_true", help="profile our load + append")
    args = parser.parse_args()
    made = await conversation(args.turns)
    messages = sum(len(new) for new, _ in made)
    print(f"conversation: {args.turns} turns, {messages} pydantic-ai messages")
    profile = cProfile.Profile() if args.profile else None
    with tempfile.TemporaryDirectory() as directory:
        config = HistoryConfig(enabled=True, db_path=Path(directory) / "bench.db")
        async with SessionHistory(config) as store:
            report("SQLite", await measure(store, Path(directory), made, profile))
        if args.postgres:
            from session_history.testing import drop_schema, with_schema

            url = with_schema(args.postgres, f"bench_{uuid.uuid4().hex[:8]}")
            try:
                async with SessionHistory(HistoryConfig(enabled=True, url=url)) as store:
                    out = await measure(store, Path(directory), made, None)
                report("PostgreSQL", out, io=False)
            finally:
                drop_schema(url)  # blocking: fine in a benchmark
    if profile is not None:
        print()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    asyncio.run(main())
