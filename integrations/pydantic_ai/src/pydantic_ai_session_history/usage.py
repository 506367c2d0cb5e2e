"""pydantic-ai usage as session-history's ``Usage``, which sums every number it holds."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.usage import RunUsage, UsageBase

from session_history import Usage

__all__ = ["usage_of"]


_ADAPTERS: dict[type[UsageBase], TypeAdapter[Any]] = {}


def _adapter(kind: type[UsageBase]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    return adapter


def usage_of(usage: UsageBase | Usage | None, messages: Sequence[ModelMessage]) -> Usage | None:
    """``usage`` as a core ``Usage``; when None, the summed usage of the responses in ``messages``
    (with ``requests``, one per response), or None when there is no response.

    Every non-zero count pydantic-ai keeps (``requests``, ``tool_calls``, cache and audio tokens,
    provider-specific counters, ``details``) becomes a field of its own, summed across runs; the
    cost, a ``Decimal`` in pydantic-ai, is kept as a float.
    """
    if isinstance(usage, Usage):
        return usage
    if usage is None:
        responses = [m for m in messages if isinstance(m, ModelResponse)]
        if not responses:
            return None
        total = RunUsage(requests=len(responses))
        for response in responses:
            total.incr(response.usage)
        usage = total
    # Through pydantic-ai's own serializer: it includes provider-specific counters that a
    # usage object keeps as extra attributes.
    data: dict[str, Any] = _adapter(type(usage)).dump_python(usage)
    fields: dict[str, Any] = {
        key: float(value) if isinstance(value, Decimal) else value
        for key, value in data.items()
        if value and isinstance(value, int | float | Decimal | dict) and not isinstance(value, bool)
    }
    fields["input_tokens"] = usage.input_tokens
    fields["output_tokens"] = usage.output_tokens
    fields["total_tokens"] = usage.total_tokens
    return Usage.model_validate(fields)
