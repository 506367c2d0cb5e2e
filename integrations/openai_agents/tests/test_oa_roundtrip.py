"""Hypothesis: generated SDK items of every shape come back from the store exactly as given
(compared as JSON values), whole and as a tail, and each item's text is what the core searches."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any, cast

from agents import TResponseInputItem
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openai_agents_session_history import HistorySession, to_chat_message
from session_history import SyncSessionHistory, run_sync
from session_history._search import search_text

# Text the store takes on both backends: PostgreSQL refuses U+0000, and neither stores lone
# surrogates, which have no UTF-8 form (both are clear errors, tested in the core).
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
TEXT_PART = st.fixed_dictionaries(
    {"type": st.sampled_from(["input_text", "output_text"]), "text": TEXT},
    optional={"annotations": st.lists(st.dictionaries(TEXT, JSON, max_size=2), max_size=2)},
)
OTHER_PART = st.one_of(
    st.fixed_dictionaries({"type": st.just("refusal"), "refusal": TEXT}),
    st.fixed_dictionaries(
        {"type": st.just("input_image"), "detail": st.just("auto"), "image_url": TEXT}
    ),
    st.fixed_dictionaries({"type": st.just("input_file"), "file_id": TEXT, "filename": TEXT}),
)
CONTENT = TEXT | st.lists(TEXT_PART | OTHER_PART, max_size=4)
ARGUMENTS = TEXT | st.dictionaries(TEXT, JSON, max_size=3).map(json.dumps)

MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "developer", "assistant"]), "content": CONTENT},
    optional={"type": st.just("message"), "id": TEXT, "status": st.just("completed")},
)
FUNCTION_CALL = st.fixed_dictionaries(
    {"type": st.just("function_call"), "call_id": TEXT, "name": TEXT, "arguments": ARGUMENTS},
    optional={"id": TEXT, "status": st.just("completed")},
)
FUNCTION_CALL_OUTPUT = st.fixed_dictionaries(
    {
        "type": st.just("function_call_output"),
        "call_id": TEXT,
        "output": TEXT | st.lists(TEXT_PART | OTHER_PART, max_size=3),
    }
)
REASONING = st.fixed_dictionaries(
    {
        "type": st.just("reasoning"),
        "id": TEXT,
        "summary": st.lists(
            st.fixed_dictionaries({"type": st.just("summary_text"), "text": TEXT}), max_size=3
        ),
    },
    optional={"encrypted_content": TEXT},
)
HOSTED = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "file_search_call",
                "web_search_call",
                "computer_call",
                "code_interpreter_call",
                "mcp_call",
                "image_generation_call",
                "shell_call",
                "custom_tool_call",
            ]
        ),
        "id": TEXT,
    },
    optional={
        "call_id": TEXT,
        "action": JSON,
        "queries": st.lists(TEXT, max_size=2),
        "code": TEXT,
        "name": TEXT,
        "arguments": ARGUMENTS,
        "input": TEXT,
        "results": JSON,
        "result": TEXT,
    },
)
ANY_ITEM = st.dictionaries(TEXT, JSON, max_size=4).flatmap(
    lambda rest: st.fixed_dictionaries({"type": TEXT}).map(lambda head: {**rest, **head})
)
ITEMS = st.lists(
    MESSAGE | FUNCTION_CALL | FUNCTION_CALL_OUTPUT | REASONING | HOSTED | ANY_ITEM,
    min_size=1,
    max_size=8,
)


def as_json(items: list[Any]) -> Any:
    """Items as JSON values: objects compare without order, numbers as the decimals JSON numbers
    are. (PostgreSQL's JSONB keeps the number, not its spelling: 1e16 reads back as
    10000000000000000, an int in Python, and -0.0 as 0.)"""
    return json.loads(json.dumps(items), parse_float=Decimal, parse_int=Decimal)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(items=ITEMS, limit=st.integers(min_value=1, max_value=10))
def test_generated_items_round_trip(
    session_history_sync: SyncSessionHistory, items: list[dict[str, Any]], limit: int
) -> None:
    session = HistorySession(uuid.uuid4().hex, session_history_sync)
    sdk_items = cast(list[TResponseInputItem], items)
    run_sync(session.add_items, sdk_items)
    assert as_json(run_sync(session.get_items)) == as_json(items)
    assert as_json(run_sync(session.get_items, limit)) == as_json(items[-limit:])
    assert as_json([run_sync(session.pop_item)]) == as_json(items[-1:])


@settings(max_examples=200, deadline=None)
@given(item=MESSAGE | FUNCTION_CALL_OUTPUT | REASONING)
def test_the_text_of_every_part_is_searched(item: dict[str, Any]) -> None:
    parts = item.get("content", item.get("output", item.get("summary")))
    texts = [parts] if isinstance(parts, str) else [p.get("text", p.get("refusal")) for p in parts]
    searched = search_text(to_chat_message(item))
    for text in texts:
        if text:
            assert text in searched
