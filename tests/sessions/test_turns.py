"""Pure helpers about turns."""

from __future__ import annotations

from backend.errors import ToolError
from backend.sessions.turns import describe_error, trim_thread


def test_describe_error_classifies_model_failures() -> None:
    """Errors from the model endpoint become model_error with their last line; others turn_failed."""
    code, message = describe_error(RuntimeError("Traceback...\nopenai.InternalServerError: Error code: 500 - boom"))
    assert code == "model_error" and message.endswith("Error code: 500 - boom")
    assert describe_error(ValueError("team state is corrupt"))[0] == "turn_failed"
    assert describe_error(ToolError("nope")) == ("tool_error", "nope")


def test_trim_thread_keeps_the_tail_of_long_threads() -> None:
    """The manager's message thread is cut to its tail once it is twice the limit."""
    state = {"agent_states": {"Manager": {"message_thread": list(range(30))}, "agent": {"llm_context": {}}}}
    assert trim_thread(state, 10) is True
    assert state["agent_states"]["Manager"]["message_thread"] == list(range(20, 30))
    assert trim_thread(state, 10) is False
