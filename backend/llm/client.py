"""The model client: AutoGen's real ``OpenAIChatCompletionClient`` for any OpenAI-compatible endpoint.

Two things are adjusted on purpose, both small and pinned by tests:

* :class:`ClosingOpenAIChatCompletionClient` closes the upstream HTTP stream when a call is
  cancelled. AutoGen 0.7.5 cancels the pending ``anext()`` but leaves the response open, so the
  model server keeps generating tokens nobody reads.
* :func:`model_info_for` derives an AutoGen ``model_info`` for model names AutoGen does not know
  (every local model), with ``LLM_FUNCTION_CALLING``, ``LLM_VISION`` ... as overrides.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Literal

from autogen_core import CancellationToken
from autogen_core.models import LLMMessage, ModelFamily, ModelInfo
from autogen_core.tools import Tool, ToolSchema
from autogen_ext.models.openai import OpenAIChatCompletionClient
from autogen_ext.models.openai import _model_info as autogen_model_info
from autogen_ext.models.openai import _openai_client as autogen_openai
from openai import NOT_GIVEN, AsyncStream, NotGiven, Omit
from openai._base_client import make_request_options
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionToolParam
from pydantic import BaseModel, ValidationError

from ..errors import ModelError, ModelOutputLimitError
from ..settings import Endpoint, Settings
from .transport import model_http_client

logger = logging.getLogger(__name__)

#: Substrings of model names whose servers commonly cannot call tools. Everything else is assumed to.
_NO_TOOLS_HINTS = ("smollm2-135m", "smollm-135m", "gpt2", "tinyllama")
_VISION_HINTS = ("vision", "-vl", "llava", "gpt-4o", "gpt-4.1", "gemini", "claude-3", "kimi-k2.5")


def model_info_for(model: str, settings: Settings, *, embedded: bool = False) -> ModelInfo:
    """AutoGen's own table for models it knows, a conservative guess otherwise; env overrides win.

    The embedded llama-cpp-python server ignores ``tools`` with the GGUF's own chat template, so
    embedded models get no tools unless ``LLM_FUNCTION_CALLING=1`` says otherwise."""
    try:
        info: ModelInfo = dict(autogen_model_info.get_info(model))  # type: ignore[assignment]
    except ValueError:
        lowered = model.lower()
        info = {
            "vision": any(hint in lowered for hint in _VISION_HINTS),
            "function_calling": not embedded and not any(hint in lowered for hint in _NO_TOOLS_HINTS),
            "json_output": False,
            "structured_output": False,
            "family": ModelFamily.UNKNOWN,
            "multiple_system_messages": False,
        }
    overrides: dict[str, Any] = {
        "function_calling": settings.llm_function_calling,
        "vision": settings.llm_vision,
        "json_output": settings.llm_json_output,
        "structured_output": settings.llm_structured_output,
        "family": settings.llm_family,
    }
    for key, value in overrides.items():
        if value is not None:
            info[key] = value  # type: ignore[literal-required]
    info.setdefault("multiple_system_messages", False)
    return info


#: one SSE chunk larger than this is refused (a real delta is a few tokens)
DELTA_LIMIT = 64 * 1024
#: converted tool lists kept (one per agent whose tools are in use; an agent's list is stable)
TOOL_PARAMS_CACHE = 1024


class ClosingOpenAIChatCompletionClient(OpenAIChatCompletionClient):
    """``OpenAIChatCompletionClient`` with a cheaper, cancellable stream reader.

    AutoGen 0.7.5 reads a stream by wrapping every ``anext()`` in a task linked to the
    cancellation token, and the SDK builds each chunk with ``construct_type`` (a walk over the type
    annotations in Python): together ~80 % of the per-token CPU, and a cancelled stream was left
    open. Here the SDK still sends the request and decodes SSE (its own decoder, timeouts and error
    mapping), but chunks are parsed with pydantic's compiled ``model_validate_json`` (the SDK's
    lenient construction only as a fallback), the token cancels the reading task once instead of
    one future per chunk, and the response is always closed, so the model server sees a stopped
    client go away.

    What one call may stream is bounded (``output_limit`` characters of SSE data, ``delta_limit``
    per chunk): a server that ignores ``max_tokens`` is cut off with ``model_output_limit``.
    """

    output_limit: int = 1 << 62
    delta_limit: int = DELTA_LIMIT

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tool_params: OrderedDict[tuple[int, ...], tuple[tuple[Any, ...], list[ChatCompletionToolParam]]] = (
            OrderedDict()
        )

    def _process_create_args(
        self,
        messages: Sequence[LLMMessage],
        tools: Sequence[Tool | ToolSchema],
        tool_choice: Tool | Literal["auto", "required", "none"],
        json_output: bool | type[BaseModel] | None,
        extra_create_args: Mapping[str, Any],
    ) -> autogen_openai.CreateParams:
        """AutoGen's own conversion, with the tool list converted once per list instead of per call.

        An agent passes the same schema objects on every call (its workbench's cached schemas plus
        its handoff tools), and AutoGen's ``convert_tools`` costs ~12 µs per tool, almost all of it
        ``isinstance(tool, Tool)`` against a runtime-checkable Protocol: ~0.2-0.4 ms before every
        request with a dozen tools. Everything else (messages, tool_choice, response format, the
        function-calling check) is still AutoGen's code."""
        if not tools:
            return super()._process_create_args(messages, tools, tool_choice, json_output, extra_create_args)
        if self.model_info["function_calling"] is False:
            raise ValueError("Model does not support function calling")
        if not isinstance(tool_choice, str):  # a Tool: AutoGen validates it against the list
            return super()._process_create_args(messages, tools, tool_choice, json_output, extra_create_args)
        params = super()._process_create_args(messages, [], tool_choice, json_output, extra_create_args)
        params.tools = self._converted_tools(tools)
        params.create_args["tool_choice"] = autogen_openai.convert_tool_choice(tool_choice)
        return params

    def _converted_tools(self, tools: Sequence[Tool | ToolSchema]) -> list[ChatCompletionToolParam]:
        """``convert_tools(tools)``, cached by the identity of the tool objects (the entry holds
        them, so an id cannot be reused while it is cached). The result is shared: never mutated."""
        key = tuple(map(id, tools))
        cache = self._tool_params
        hit = cache.get(key)
        if hit is not None:
            cache.move_to_end(key)
            return hit[1]
        converted = autogen_openai.convert_tools(tools)
        cache[key] = (tuple(tools), converted)
        if len(cache) > TOOL_PARAMS_CACHE:
            cache.popitem(last=False)
        return converted

    async def _create_stream_chunks(
        self,
        tool_params: list[Any],
        oai_messages: list[Any],
        create_args: dict[str, Any],
        cancellation_token: CancellationToken | None,
    ) -> AsyncGenerator[ChatCompletionChunk, None]:
        stream_future: asyncio.Future[AsyncStream[ChatCompletionChunk]] = asyncio.ensure_future(
            self._post_stream(tool_params, oai_messages, create_args)
        )
        if cancellation_token is not None:
            cancellation_token.link_future(stream_future)
        stream = await stream_future
        reader = asyncio.current_task()
        reading = True

        def cancel_reader() -> None:
            if reading and reader is not None:
                reader.cancel()

        if cancellation_token is not None:
            cancellation_token.add_callback(cancel_reader)
        produced = False
        streamed = 0
        try:
            async for sse in stream._iter_events():
                if sse.data.startswith("[DONE]"):
                    break
                if len(sse.data) > self.delta_limit:
                    raise ModelOutputLimitError(
                        f"the model server sent one chunk of {len(sse.data):,} characters (over {self.delta_limit:,}); "
                        "the stream was closed"
                    )
                streamed += len(sse.data)
                if streamed > self.output_limit:
                    raise ModelOutputLimitError(
                        f"the model streamed more than MODEL_OUTPUT_LIMIT ({self.output_limit:,} characters of "
                        "chunks; it ignores max_tokens?); the stream was closed"
                    )
                chunk = self._parse_chunk(sse.data, stream)
                produced = produced or any(
                    c.finish_reason or c.delta.content or c.delta.tool_calls for c in chunk.choices
                )
                yield chunk
        finally:
            reading = False
            # Cancelled, failed, or the consumer stopped early: release the connection now so the
            # model server sees the client go away and stops generating.
            await asyncio.shield(stream.close())
        if not produced:
            # Some servers (llama-cpp-python) report an error mid-stream as an empty 200 stream.
            raise ModelError(
                "the model server ended the stream without an answer "
                "(often: the prompt is longer than its context window)"
            )

    async def _post_stream(
        self, tool_params: list[Any], oai_messages: list[Any], create_args: dict[str, Any]
    ) -> AsyncStream[ChatCompletionChunk]:
        """What ``chat.completions.create(stream=True)`` does, minus its request transform.

        The SDK walks every message and tool schema through its TypedDict annotations before
        sending (~7 ms per call with a dozen tools, all of it before the first token). AutoGen has
        already built plain JSON dicts, so they are posted as they are, through the SDK's own
        ``post`` (auth, retries, timeouts, error mapping unchanged).
        """
        args = dict(create_args)
        options = make_request_options(
            extra_headers=args.pop("extra_headers", None),
            extra_query=args.pop("extra_query", None),
            extra_body=args.pop("extra_body", None),
            timeout=args.pop("timeout", NOT_GIVEN),
            security={"bearer_auth": True},
        )
        body: dict[str, Any] = {"messages": oai_messages, "stream": True}
        body.update((key, value) for key, value in args.items() if not isinstance(value, NotGiven | Omit))
        if tool_params:
            body["tools"] = tool_params
        return await self._client.post(
            "/chat/completions",
            body=body,
            options=options,
            cast_to=ChatCompletion,
            stream=True,
            stream_cls=AsyncStream[ChatCompletionChunk],
        )

    def _parse_chunk(self, data: str, stream: AsyncStream[ChatCompletionChunk]) -> ChatCompletionChunk:
        try:
            return ChatCompletionChunk.model_validate_json(data)
        except ValidationError:
            pass
        try:
            parsed = json.loads(data)
        except ValueError:
            raise ModelError(f"the model server sent invalid SSE data: {data[:120]!r}") from None
        if isinstance(parsed, dict) and parsed.get("error"):
            error = parsed["error"]
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise ModelError(f"the model server reported an error mid-stream: {message}")
        # An off-spec but usable chunk from a local server: the SDK's lenient construction.
        chunk: ChatCompletionChunk = self._client._process_response_data(
            data=parsed, cast_to=ChatCompletionChunk, response=stream.response
        )
        return chunk


_SAMPLE_CHUNKS = (
    '{"id":"w","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,'
    '"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}',
    '{"id":"w","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":'
    '{"tool_calls":[{"index":0,"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},'
    '"finish_reason":"tool_calls"}]}',
    '{"id":"w","object":"chat.completion.chunk","created":0,"model":"m","choices":[],'
    '"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}',
)


def warm_up_parsers() -> None:
    """Build the SDK's chunk validator now: the SDK defers pydantic builds, so the first chunk of the
    process would otherwise pay ~2 ms for it (in the first user's time to first token)."""
    for sample in _SAMPLE_CHUNKS:
        ChatCompletionChunk.model_validate_json(sample)


def build_model_client(endpoint: Endpoint, settings: Settings) -> ClosingOpenAIChatCompletionClient:
    """One client per process: it owns the HTTP connection pool every session shares."""
    create_args: dict[str, Any] = {
        "model": endpoint.model,
        "base_url": endpoint.base_url,
        "api_key": endpoint.api_key,
        "model_info": model_info_for(endpoint.model, settings, embedded=endpoint.source == "embedded"),
        "include_name_in_message": settings.llm_include_name,
        # prompt + reply never exceed the window: the context budget leaves exactly this much room.
        "max_tokens": settings.context_reserve,
        "timeout": settings.llm_timeout,
        "max_retries": settings.llm_max_retries,
        # aiohttp under the SDK (its documented alternative transport): asyncio-native reads instead
        # of anyio's per-read cancel scopes and pause/resume syscalls, ~0.3 ms less per token; with
        # immediate ACKs so a model server with Nagle on does not hold the stream (transport.py).
        "http_client": model_http_client(),
    }
    if settings.llm_temperature is not None:
        create_args["temperature"] = settings.llm_temperature
    logger.info("model endpoint %s (model %s, from %s)", endpoint.base_url, endpoint.model, endpoint.source)
    client = ClosingOpenAIChatCompletionClient(**create_args)
    client.output_limit = settings.resolved_model_output_limit
    return client
