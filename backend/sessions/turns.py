"""What a turn is, and pure helpers about turns: context text, error descriptions, state trimming."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import AgentChatError
from ..llm.failures import model_failure
from ..store import InboxItem
from ..team.runner import CancelToken
from .tracing import TurnTrace

NOTE_CHARS = 500


@dataclass
class Turn:
    inbox_id: int
    content: str
    command: str | None  # explicit terminal mode: run this, no model
    client_id: str | None = None
    workflow: bool = False  # explicit workflow mode (/run <workflow> [json inputs]): no model
    started: float = 0.0
    token: CancelToken = field(default_factory=CancelToken)
    finished: bool = False
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0})
    #: False when a model call of this turn came back without token usage (some servers, e.g.
    #: llama-cpp-python, never report it on streams): the numbers in ``usage`` are then incomplete.
    usage_reported: bool = True
    #: the seq of the message that started the turn (``GET /v1/sessions/{id}/traces?turn=``)
    seq: int = 0
    trace: TurnTrace | None = None


def as_context(item: InboxItem) -> str:
    if item.kind == "user" and item.source == "user":
        return f"[Earlier message that was not answered:]\n{item.content}"
    return item.content


def trim_thread(state: dict[str, Any], keep: int) -> bool:
    """Cut the group-chat manager's message thread (it grows with every turn) to its tail."""
    trimmed = False
    for agent_state in (state.get("agent_states") or {}).values():
        if isinstance(agent_state, dict) and isinstance(agent_state.get("message_thread"), list):
            thread = agent_state["message_thread"]
            if len(thread) > keep * 2:
                agent_state["message_thread"] = thread[-keep:]
                trimmed = True
    return trimmed


def describe_error(error: BaseException) -> tuple[str, str]:
    """A code and a one-line message for the client; details go to the log. Model failures are
    recognised by their exception type (``llm/failures.py``), not by words in their message."""
    if isinstance(error, AgentChatError):
        return error.code, error.message
    failure = model_failure(error)
    if failure is not None:
        return failure.code, failure.message
    text = str(error) or type(error).__name__
    return "turn_failed", f"the turn failed: {text.strip().splitlines()[-1][:300] if text.strip() else text}"
