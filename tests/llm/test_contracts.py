"""Contracts with the private APIs of the libraries we build on, pinned narrowly in requirements.txt.

When openai or AutoGen change one of these, this fails loudly here instead of a turn failing later.
"""

from __future__ import annotations

import inspect

import openai
from autogen_ext.models.openai import OpenAIChatCompletionClient
from autogen_ext.models.openai import _model_info as autogen_model_info
from openai import AsyncOpenAI, AsyncStream
from openai._base_client import make_request_options


def test_openai_private_apis_used_by_the_model_client_exist() -> None:
    """make_request_options(...), AsyncStream._iter_events, client._process_response_data, client.post."""
    assert {"extra_headers", "extra_query", "extra_body", "timeout", "security"} <= set(
        inspect.signature(make_request_options).parameters
    )
    assert inspect.isasyncgenfunction(AsyncStream._iter_events)
    client = AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="x")
    assert {"data", "cast_to", "response"} <= set(inspect.signature(client._process_response_data).parameters)
    assert {"body", "options", "cast_to", "stream", "stream_cls"} <= set(inspect.signature(client.post).parameters)


def test_autogen_private_apis_used_by_the_model_client_exist() -> None:
    """_model_info.get_info and the stream hook we override keep their shapes."""
    assert callable(autogen_model_info.get_info)
    hook = inspect.signature(OpenAIChatCompletionClient._create_stream_chunks)
    assert list(hook.parameters) == ["self", "tool_params", "oai_messages", "create_args", "cancellation_token"]


def test_the_sdk_exception_classes_the_classifier_relies_on_exist() -> None:
    """llm/failures.py maps these by class (and by name for errors relayed by AutoGen's team)."""
    for name in ("APIError", "APIStatusError", "APIConnectionError", "APITimeoutError", "RateLimitError"):
        assert issubclass(getattr(openai, name), openai.APIError), name
