"""The model client converts an agent's tool list once and reuses it, with AutoGen's exact output."""

from __future__ import annotations

from typing import Any

import pytest
from autogen_core.models import SystemMessage, UserMessage
from autogen_core.tools import FunctionTool, ToolSchema
from autogen_ext.models.openai import OpenAIChatCompletionClient

from backend.llm.client import ClosingOpenAIChatCompletionClient


def _add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _echo(text: str) -> str:
    """Echo the text."""
    return text


def _client(function_calling: bool = True) -> ClosingOpenAIChatCompletionClient:
    return ClosingOpenAIChatCompletionClient(
        model="local-model",
        base_url="http://127.0.0.1:9/v1",
        api_key="x",
        model_info={
            "vision": False,
            "function_calling": function_calling,
            "json_output": False,
            "structured_output": False,
            "family": "unknown",
            "multiple_system_messages": False,
        },
    )


MESSAGES = [
    SystemMessage(content="be brief"),
    SystemMessage(content="and kind"),
    UserMessage(content="hi", source="user"),
]
SCHEMA: ToolSchema = {
    "name": "lookup",
    "description": "Look it up.",
    "parameters": {"type": "object", "properties": {}},
}


def _autogen(client: ClosingOpenAIChatCompletionClient, tools: list[Any], choice: Any = "auto") -> Any:
    return OpenAIChatCompletionClient._process_create_args(client, MESSAGES, tools, choice, None, {"temperature": 0.1})


@pytest.mark.parametrize("choice", ["auto", "required", "none"])
def test_create_params_equal_autogens_own(choice: str) -> None:
    """Messages, tools and create args are exactly what AutoGen's _process_create_args builds."""
    client = _client()
    tools = [FunctionTool(_add, description="Add."), SCHEMA, FunctionTool(_echo, description="Echo.")]
    ours = client._process_create_args(MESSAGES, tools, choice, None, {"temperature": 0.1})
    theirs = _autogen(client, tools, choice)
    assert ours.messages == theirs.messages
    assert ours.tools == theirs.tools
    assert ours.create_args == theirs.create_args
    assert ours.response_format == theirs.response_format


def test_the_same_tool_objects_are_converted_once() -> None:
    """A second call with the same tool objects reuses the converted list; new objects convert anew."""
    client = _client()
    tools = [FunctionTool(_add, description="Add."), SCHEMA]
    first = client._process_create_args(MESSAGES, tools, "auto", None, {}).tools
    again = client._process_create_args(MESSAGES, list(tools), "auto", None, {}).tools
    assert again is first
    changed = [*tools, FunctionTool(_echo, description="Echo.")]
    other = client._process_create_args(MESSAGES, changed, "auto", None, {}).tools
    assert other is not first
    assert [t["function"]["name"] for t in other] == ["_add", "lookup", "_echo"]


def test_no_tools_and_a_tool_choice_object_take_autogens_path() -> None:
    """Without tools nothing is cached; a Tool as tool_choice is validated by AutoGen as before."""
    client = _client()
    assert client._process_create_args(MESSAGES, [], "auto", None, {}).tools == []
    assert "tool_choice" not in client._process_create_args(MESSAGES, [], "auto", None, {}).create_args
    add = FunctionTool(_add, description="Add.")
    forced = client._process_create_args(MESSAGES, [add], add, None, {})
    assert forced.create_args["tool_choice"] == {"type": "function", "function": {"name": "_add"}}
    with pytest.raises(ValueError, match="not in the provided tools"):
        client._process_create_args(MESSAGES, [SCHEMA], add, None, {})


def test_a_model_without_function_calling_still_refuses_tools() -> None:
    """The function-calling check runs before the cache."""
    with pytest.raises(ValueError, match="does not support function calling"):
        _client(function_calling=False)._process_create_args(MESSAGES, [SCHEMA], "auto", None, {})


def test_an_invalid_tool_name_is_still_refused() -> None:
    """AutoGen's name check runs on conversion (a cache miss)."""
    bad: ToolSchema = {"name": "no spaces allowed", "description": "", "parameters": {"type": "object"}}
    with pytest.raises(ValueError, match="Invalid name"):
        _client()._process_create_args(MESSAGES, [bad], "auto", None, {})
