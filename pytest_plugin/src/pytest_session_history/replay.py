"""``replay_model``: a recorded session as a chat model, so an agent re-runs offline.

Each framework's model lives in its integration (``<integration>.replay``), imported only when
asked for, so this plugin depends on none of them. An integration's ``replay_model(session,
check)`` answers each model call with the next recorded reply, and before answering calls
``check(index, recorded_input, actual_input)`` with both inputs as ``ChatMessage``\\ s, converted
the same way (``recorded_input`` is None when the recording has no reply left). The check is
here, framework-neutral: it compares what the messages say (:func:`.transcript.message_view`
without ids), and fails with the call's number and the messages, differences marked.

Two allowances, both for what a recorder does not see: when the recording holds no system
message, the system messages the agent sends are not compared (LangChain's middleware does not
record the agent's system prompt); and an input may be the recording's last messages from a user
message on (a run that did not carry the conversation's history, as an agent without a
checkpointer starts each run afresh).

A failed check raises an ``AssertionError`` from deep inside the framework's agent loop (some
sixty frames of pydantic-ai's graph, say). The plugin's report hook hands it to
:func:`hide_framework_frames`, so that the report shows the test's own lines, then the mismatch.
"""

from __future__ import annotations

import importlib
import json
import site
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal

import pytest

from session_history import ChatMessage, InvalidQueryError, Role, Session

from .assertions import raise_marked
from .transcript import message_view, tool_names_of

__all__ = [
    "FRAMEWORKS",
    "Framework",
    "ReplayCheck",
    "hide_framework_frames",
    "replay_model",
]

Framework = Literal["langchain", "openai-agents", "pydantic-ai"]

FRAMEWORKS: dict[str, tuple[str, str, str]] = {
    "langchain": (
        "langchain_session_history.replay",
        "langchain-session-history",
        "pip install . ./integrations/langchain",
    ),
    "openai-agents": (
        "openai_agents_session_history.replay",
        "openai-agents-session-history",
        "pip install . ./integrations/openai_agents",
    ),
    "pydantic-ai": (
        "pydantic_ai_session_history.replay",
        "pydantic-ai-session-history",
        "pip install . ./integrations/pydantic_ai",
    ),
}
"""framework -> (the module holding its replay model, its distribution, how to install it)."""


_MISMATCH = "_session_history_replay_mismatch"
"""Marks the AssertionError of a failed replay check, whose framework frames the report hides."""


_NOTHING_MORE = "(nothing more)"

_SHOWN = 6
"""How many of the input's last messages a "no reply left" failure shows."""


def replay_model(session: Session, *, framework: Framework) -> Any:
    """A chat model of ``framework`` that answers with the session's recorded replies, in order.

    ``"langchain"`` gives a ``BaseChatModel`` (with ``bind_tools``, for ``create_agent``),
    ``"openai-agents"`` an ``agents.testing.ScriptedModel``, ``"pydantic-ai"`` a
    ``FunctionModel``. Each reply comes back as recorded: text, tool calls with their arguments
    and ids, reasoning where the framework has it.

    Args:
        session: The recorded session (``recorder.session``, or ``load_session(id)``).
        framework: ``"langchain"``, ``"openai-agents"`` or ``"pydantic-ai"``.

    Returns:
        The model; a call past the last recorded reply, or whose input differs from the one
        recorded, raises ``AssertionError`` showing the call and the difference.

    Raises:
        InvalidQueryError: An unknown framework, or its integration is not installed.
    """
    if framework not in FRAMEWORKS:
        raise InvalidQueryError(
            f"unknown framework {framework!r} for replay_model; use one of "
            f"{', '.join(map(repr, FRAMEWORKS))}"
        )
    module_name, distribution, install = FRAMEWORKS[framework]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:  # the integration, or the framework it stands on
        raise InvalidQueryError(
            f"replay_model(framework={framework!r}) needs {distribution} and its framework, "
            f"which are not installed ({exc}); install them from the repository root: {install}"
        ) from exc
    return module.replay_model(session, ReplayCheck(session))


class ReplayCheck:
    """Compares each model call's input with the recording's, for one session's replay."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._names = tool_names_of(session.messages)

    def __call__(
        self,
        index: int,
        recorded: Sequence[ChatMessage] | None,
        actual: Sequence[ChatMessage],
    ) -> None:
        """Raise ``AssertionError`` unless call ``index`` (from 0) may get its recorded reply."""
        __tracebackhide__ = True
        names = {**self._names, **tool_names_of(actual)}
        where = f"replay of session {self.session.session_id!r}: model call {index + 1}"
        if recorded is None:
            raise _marked(
                "\n".join(
                    [
                        f"{where} asked for a reply, but the recording has only {index}; "
                        "the agent made more model calls than when it was recorded.",
                        f"The last recorded reply: {self._last_reply(names)}",
                        f"The input of call {index + 1} ends with:",
                        *(f"  {line}" for line in self._tail(actual, names)),
                    ]
                )
            )
        want = [self._line(m, names) for m in recorded]
        got = [self._line(m, names) for m in actual]
        if not any(m.role is Role.SYSTEM for m in recorded):
            got = [line for m, line in zip(actual, got, strict=True) if m.role is not Role.SYSTEM]
        if got == want or self._fresh_run(want, got, recorded):
            return
        first = next(
            (i for i, (w, g) in enumerate(zip(want, got, strict=False)) if w != g),
            min(len(want), len(got)),
        )
        try:
            raise_marked(
                f"{where} was sent an input that differs from the recording's at message {first} "
                "(- recorded, + actual):",
                [
                    (
                        want[i] if i < len(want) else _NOTHING_MORE,
                        got[i] if i < len(got) else _NOTHING_MORE,
                    )
                    for i in range(max(len(want), len(got)))
                ],
            )
        except AssertionError as error:
            _marked(error)
            raise

    @staticmethod
    def _fresh_run(want: list[str], got: list[str], recorded: Sequence[ChatMessage]) -> bool:
        """A run that starts afresh: the input is the recording's tail, from a user message."""
        start = len(want) - len(got)
        return start > 0 and recorded[start].role is Role.USER and want[start:] == got

    @staticmethod
    def _line(message: ChatMessage, names: dict[str, str]) -> str:
        view = message_view(message, names, ids=False)
        role = view.pop("role")
        tool = view.pop("tool", None)
        head = f"{role} ({tool})" if tool else role
        content = view.pop("content", None)
        calls = view.pop("tool_calls", [])
        parts = [repr(content)] if content is not None else []
        parts += [f"{c['name']}({_json(c['arguments'])})" for c in calls]
        parts += [f"{key}={value!r}" for key, value in view.items()]
        return f"{head}: {' '.join(parts)}" if parts else head

    def _last_reply(self, names: dict[str, str]) -> str:
        replies = [m for m in self.session.messages if m.role is Role.ASSISTANT]
        return self._line(replies[-1], names) if replies else "(none: the session has no reply)"

    def _tail(self, actual: Sequence[ChatMessage], names: dict[str, str]) -> list[str]:
        start = max(0, len(actual) - _SHOWN)
        return [f"{i}. {self._line(actual[i], names)}" for i in range(start, len(actual))]


_OURS = frozenset(
    {
        "session_history",
        "pytest_session_history",
        *(m.split(".")[0] for m, _, _ in FRAMEWORKS.values()),
    }
)
"""The top-level modules of this repository's distributions."""


def _installed_code() -> list[Path]:
    """Where installed code lives: the standard library and every site-packages."""
    paths = sysconfig.get_paths()
    found = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    found.update(site.getsitepackages())
    found.add(site.getusersitepackages())
    return [Path(path).resolve() for path in found]


def _framework_frame(frame: FrameType, installed: list[Path]) -> bool:
    module = str(frame.f_globals.get("__name__", ""))
    if module.split(".")[0] in _OURS:
        return True
    path = Path(frame.f_code.co_filename)
    return path.is_absolute() and any(path.resolve().is_relative_to(p) for p in installed)


def _marked(error: AssertionError | str) -> AssertionError:
    """``error`` (or an AssertionError saying it) marked as a replay mismatch."""
    if isinstance(error, str):
        error = AssertionError(error)
    setattr(error, _MISMATCH, True)
    return error


def hide_framework_frames(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """Leave, of a replay mismatch's traceback from the test's frame on, only the frames
    of the user's code (the test and its helpers): the agent framework's, asyncio's and ours go,
    so the mismatch comes right after the line of the test that ran the agent. Other errors are
    left as they are.

    The exception's own chain of frames is relinked (``tb_next`` is writable): pytest rebuilds
    the traceback from it when it cuts it at the test function, so a filtered copy would not do.
    """
    if not getattr(excinfo.value, _MISMATCH, False):
        return
    installed = _installed_code()
    tb: TracebackType | None = excinfo.tb
    while tb is not None and _framework_frame(tb.tb_frame, installed):  # pytest's runner
        tb = tb.tb_next
    if tb is None:
        return
    kept = tb
    while tb.tb_next is not None:
        tb = tb.tb_next
        if not _framework_frame(tb.tb_frame, installed):
            kept.tb_next, kept = tb, tb
    kept.tb_next = None
    excinfo.traceback = pytest.ExceptionInfo.from_exception(excinfo.value).traceback
    excinfo.value.add_note(
        "(the agent framework's frames are hidden: pytest --full-trace shows them)"
    )


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
