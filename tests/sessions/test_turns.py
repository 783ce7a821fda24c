"""Pure helpers about turns."""

from __future__ import annotations

from backend.errors import ToolError
from backend.sessions.turns import describe_error, trim_thread


def test_describe_error_classifies_model_failures() -> None:
    """A model failure relayed by the team becomes model_error with its message; others turn_failed."""
    code, message = describe_error(RuntimeError("InternalServerError: Error code: 500 - boom\nTraceback:\n..."))
    assert code == "model_error" and message.endswith("Error code: 500 - boom")
    assert describe_error(ValueError("team state is corrupt"))[0] == "turn_failed"
    assert describe_error(ToolError("nope")) == ("tool_error", "nope")


def test_trim_thread_keeps_the_tail_of_long_threads() -> None:
    """The manager's message thread is cut to its tail once it is twice the limit."""
    state = {"agent_states": {"Manager": {"message_thread": list(range(30))}, "agent": {"llm_context": {}}}}
    assert trim_thread(state, 10) is True
    assert state["agent_states"]["Manager"]["message_thread"] == list(range(20, 30))
    assert trim_thread(state, 10) is False


def test_model_failures_are_classified_by_exception_type() -> None:
    """The SDK's own exception classes decide, whether raised directly or relayed by AutoGen's team as
    "<TypeName>: <message>"; a message that merely mentions a model or a timeout is not a model failure."""
    import httpx2
    import openai

    request = httpx2.Request("POST", "http://model/v1/chat/completions")
    timeout = openai.APITimeoutError(request=request)
    assert describe_error(timeout)[0] == "model_timeout" and "timed out" in describe_error(timeout)[1]
    unreachable = openai.APIConnectionError(request=request)
    assert "unreachable" in describe_error(unreachable)[1]
    wrapped = RuntimeError("the team failed")
    wrapped.__cause__ = unreachable
    assert describe_error(wrapped)[0] == "model_error"
    relayed = RuntimeError("RateLimitError: Error code: 429 - slow down\nTraceback:\n...")
    assert describe_error(relayed) == (
        "model_error",
        "the model endpoint answered HTTP 429: Error code: 429 - slow down",
    )
    ours = RuntimeError("ModelError: the model server ended the stream without an answer\nTraceback:\n...")
    assert describe_error(ours)[1] == "the model server ended the stream without an answer"
    for innocent in ("the model timed out on json", "KeyError: 'model'", "Connection to the database lost"):
        assert describe_error(RuntimeError(innocent))[0] == "turn_failed", innocent
