"""A model-client wrapper that streams tokens straight to the session, past AutoGen's runtime.

Agents are built with ``model_client_stream=False`` and this wrapper as their client. Its
``create()`` consumes the real client's ``create_stream()`` and hands every text chunk to
``on_delta`` as it arrives, then returns the final ``CreateResult`` to AutoGen as if the call had
not streamed. Tokens therefore reach the client without being wrapped in a
``ModelClientStreamingChunkEvent`` and routed through the team's message runtime one by one,
which is where the stock streaming path spends most of its per-token CPU; AutoGen still sees
every complete message, tool call and result, so team state is unchanged.

When chunks arrive faster than they are processed, a stream can be read from a full buffer without
ever waiting; the tap then yields to the event loop every :data:`YIELD_EVERY` chunks, so one fast
stream cannot stall every other session (and the hub flushes what it coalesced so far).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

import openai
from autogen_core import CancellationToken
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelCapabilities,
    ModelInfo,
    RequestUsage,
)
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from .failures import model_failure

YIELD_EVERY = 32  # chunks handled back to back before the tap lets the loop run other work

DeltaSink = Callable[[str], None]
ResultSink = Callable[[CreateResult, float], None]


class StreamingTap(ChatCompletionClient):
    """Wraps a shared client for one agent of one session. Not a component: never serialized."""

    def __init__(
        self,
        inner: ChatCompletionClient,
        *,
        on_delta: DeltaSink | None = None,
        on_result: ResultSink | None = None,
        on_request: Callable[[], None] | None = None,
        first_delta_out: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._inner = inner
        self._on_delta = on_delta
        self._on_result = on_result
        self._on_request = on_request
        self._first_delta_out = first_delta_out

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        started = time.monotonic()
        if self._on_request is not None:
            self._on_request()  # the session's start-up work for this request is done (admission)
        result: CreateResult | None = None
        on_delta = self._on_delta
        stream = self._inner.create_stream(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            # usage is only reported on streams that ask for it
            extra_create_args={**extra_create_args, "stream_options": {"include_usage": True}},
            cancellation_token=cancellation_token,
        )
        handled = 0
        first_out = self._first_delta_out
        try:
            async for chunk in stream:
                if isinstance(chunk, str):
                    if on_delta is not None and chunk:
                        on_delta(chunk)
                        if first_out is not None:
                            # The first token out before the rest of a buffered reply is processed
                            # (the loop would otherwise handle the whole burst, and AutoGen's end of
                            # the call, before the first delta's store write comes back).
                            await first_out()
                            first_out = None
                else:
                    result = chunk
                handled += 1
                if handled % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        except openai.APIError as exc:
            # classified here, where the exception still has its cause: the team relays only a
            # "<Type>: <message>" text of it (backend/llm/failures.py)
            raise (model_failure(exc) or exc) from exc
        finally:
            await stream.aclose()
        if result is None:
            raise RuntimeError("the model stream ended without a final result")
        if self._on_result is not None:
            self._on_result(result, time.monotonic() - started)
        return result

    def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        return self._inner.create_stream(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=extra_create_args,
            cancellation_token=cancellation_token,
        )

    async def close(self) -> None:
        """The inner client is shared by every session; it is closed by its owner."""

    def actual_usage(self) -> RequestUsage:
        return self._inner.actual_usage()

    def total_usage(self) -> RequestUsage:
        return self._inner.total_usage()

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return self._inner.count_tokens(messages, tools=tools)

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return self._inner.remaining_tokens(messages, tools=tools)

    @property
    def capabilities(self) -> ModelCapabilities:
        return self._inner.capabilities

    @property
    def model_info(self) -> ModelInfo:
        return self._inner.model_info
