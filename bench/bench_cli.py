"""Search, export and import benchmark: 5,000 sessions of 40 messages (200,000 messages).

Run by hand: ``python bench/bench_cli.py``. Messages are drawn from a fixed vocabulary with a
fixed seed, so a word matches a realistic share of messages (not all of them, not none).
"""

from __future__ import annotations

import functools
import random
import tempfile
import time
from pathlib import Path

from common import VOCABULARY, best_ms, message_dicts

from session_history import ChatMessage, HistoryConfig, Session, SyncSessionHistory

SESSIONS, PER_SESSION = 5000, 40


def build(history: SyncSessionHistory) -> None:
    rng = random.Random(42)
    for s in range(SESSIONS):
        messages = [ChatMessage.model_validate(m) for m in message_dicts(rng, PER_SESSION)]
        history.create_session(
            Session(
                session_id=f"s{s:05d}", agent_name=f"agent-{s % 5}", model="m", messages=messages
            )
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        d = Path(directory)
        config = HistoryConfig(enabled=True, db_path=d / "big.db", load_entrypoint_plugins=False)
        rows = []
        with SyncSessionHistory(config) as history:
            build(history)
            queries = [
                VOCABULARY[300],  # a mid-frequency word
                f"{VOCABULARY[40]} {VOCABULARY[120]}",  # two words, both must match
                f'"{VOCABULARY[2]} {VOCABULARY[3]}"',  # a phrase
                VOCABULARY[0],  # the commonest word: in most messages, the worst case
            ]
            for query in queries:
                hits = history.search(query, limit=20)
                ms = best_ms(functools.partial(history.search, query, limit=20), repeat=10)
                rows.append(
                    (f"search {query!r} (top 20 of 200,000 msgs): ms", f"{ms:.1f}", len(hits))
                )
            t0 = time.perf_counter()
            lines = list(history.export_jsonl())
            export_s = time.perf_counter() - t0
        messages = SESSIONS * PER_SESSION
        rows.append(("export 5,000 x 40: messages/s", f"{messages / export_s:,.0f}", len(lines)))
        target = HistoryConfig(enabled=True, db_path=d / "copy.db", load_entrypoint_plugins=False)
        with SyncSessionHistory(target) as copy:
            t0 = time.perf_counter()
            report = copy.import_jsonl(lines)
            import_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = copy.import_jsonl(lines)
            reimport_s = time.perf_counter() - t0
        rows.append(("import 5,000 x 40: messages/s", f"{messages / import_s:,.0f}", report.added))
        rows.append(
            (
                "import again (nothing changes): messages/s",
                f"{messages / reimport_s:,.0f}",
                again.unchanged,
            )
        )
    print(f"{'measure':<52} {'value':>10} {'count':>8}")
    for label, value, count in rows:
        print(f"{label:<52} {value:>10} {count:>8}")


if __name__ == "__main__":
    main()
