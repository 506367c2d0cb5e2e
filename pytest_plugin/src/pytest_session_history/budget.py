"""``assert_usage``: keep an agent run within its token budget."""

from __future__ import annotations

from session_history import InvalidQueryError, Session, SessionSummary, Usage

__all__ = ["assert_usage"]


def assert_usage(
    session: Session | SessionSummary | Usage,
    *,
    max_input_tokens: int | None = None,
    max_output_tokens: int | None = None,
    max_total_tokens: int | None = None,
) -> None:
    """Assert that a session's recorded token usage is within the given budgets.

    Args:
        session: A session, its summary (what ``list_sessions`` and the hook recorder give),
            or a ``Usage``.
        max_input_tokens: The most input tokens allowed, or None for no limit.
        max_output_tokens: The most output tokens allowed, or None for no limit.
        max_total_tokens: The most tokens in all, or None for no limit.

    Raises:
        AssertionError: A budget is exceeded, or the session recorded no usage at all (a
            budget cannot vouch for a run whose tokens were not counted); the message gives
            every figure beside its limit.
        InvalidQueryError: No budget was given.
    """
    __tracebackhide__ = True
    limits = {
        "input": ("max_input_tokens", max_input_tokens),
        "output": ("max_output_tokens", max_output_tokens),
        "total": ("max_total_tokens", max_total_tokens),
    }
    if all(limit is None for _, limit in limits.values()):
        raise InvalidQueryError(
            "assert_usage needs a budget: max_input_tokens, max_output_tokens or max_total_tokens"
        )
    usage = session if isinstance(session, Usage) else session.usage
    what = _name(session)
    if usage is None:
        raise AssertionError(
            f"{what} recorded no token usage, so its budget cannot be checked; record the run's "
            "usage (append_messages(..., usage=...), HistorySession.add_run_usage(result), or "
            "the usage your integration reports)"
        )
    figures = {
        "input": usage.input_tokens,
        "output": usage.output_tokens,
        "total": usage.total_tokens,
    }
    over = [k for k, (_, limit) in limits.items() if limit is not None and figures[k] > limit]
    if not over:
        return
    width = max(len(f"{figure:,}") for figure in figures.values())
    lines = [f"{what} is over its token budget ({', '.join(over)}):"]
    for kind, (option, limit) in limits.items():
        head = f"  {kind + ' tokens:':<15}{figures[kind]:>{width},}"
        if limit is None:
            lines.append(f"{head}  (no limit)")
        elif kind in over:
            lines.append(f"{head} >  {limit:,} {option}, over by {figures[kind] - limit:,}")
        else:
            lines.append(f"{head} <= {limit:,} {option}")
    raise AssertionError("\n".join(lines))


def _name(session: Session | SessionSummary | Usage) -> str:
    if isinstance(session, Session):
        return f"session {session.session_id!r}"
    if isinstance(session, SessionSummary):
        return f"session {session.id!r}"
    return "the usage"
