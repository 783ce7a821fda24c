"""One model call for a workflow's ``llm`` node: the shared client, inside the same context budget.

The request (messages as given, no tools) is counted like a turn's; when it is over the budget's
request limit the longest user message is cut (with the counter's visible marker) until it fits,
and the completion is capped at ``CONTEXT_RESERVE`` tokens, so prompt + answer never exceed
``CONTEXT_BUDGET``.
"""

from __future__ import annotations

from typing import Any

import openai
from autogen_core.models import AssistantMessage, ChatCompletionClient, LLMMessage, SystemMessage, UserMessage

from ..context.budget import request_limit
from ..context.tokens import TokenCounter
from ..errors import ModelError, WorkflowError
from ..settings import Settings


class OneShotModel:
    def __init__(
        self, client: ChatCompletionClient, counter: TokenCounter, settings: Settings, safety_margin: float
    ) -> None:
        self._client = client
        self._counter = counter
        self._settings = settings
        self._limit = request_limit(settings.context_budget, settings.context_reserve, safety_margin)

    def fit(self, messages: list[dict[str, str]]) -> list[LLMMessage]:
        """AutoGen messages that fit the request limit (the longest user message truncated if needed)."""
        out: list[LLMMessage] = []
        for m in messages:
            if m["role"] == "system":
                out.append(SystemMessage(content=m["content"]))
            elif m["role"] == "assistant":
                out.append(AssistantMessage(content=m["content"], source="workflow"))
            else:
                out.append(UserMessage(content=m["content"], source="user"))
        total = self._counter.count_messages(out)
        if total <= self._limit:
            return out
        users = [i for i, m in enumerate(out) if isinstance(m, UserMessage)]
        if not users:
            raise WorkflowError(f"the llm node's messages are {total} tokens; the budget allows {self._limit}")
        longest = max(users, key=lambda i: self._counter.count_message(out[i]))
        others = total - self._counter.count_message(out[longest])
        room = self._limit - others
        if room < 32:
            raise WorkflowError(f"the llm node's messages are {total} tokens; the budget allows {self._limit}")
        out[longest] = self._counter.truncate_message(out[longest], room)
        return out

    async def __call__(
        self, messages: list[dict[str, str]], *, temperature: float | None, max_tokens: int | None
    ) -> tuple[str, dict[str, int]]:
        request = self.fit(messages)
        reserve = self._settings.context_reserve
        extra: dict[str, Any] = {"max_tokens": min(max_tokens or reserve, reserve)}
        if temperature is not None:
            extra["temperature"] = float(temperature)
        try:
            result = await self._client.create(request, extra_create_args=extra)
        except ModelError as exc:
            raise WorkflowError(f"the model failed: {exc.message}") from None
        except openai.APIError as exc:  # connection, timeout, HTTP status: the SDK's own classes
            raise WorkflowError(f"the model failed: {type(exc).__name__}: {str(exc)[:300]}") from None
        if not isinstance(result.content, str):
            raise WorkflowError("the model answered with a tool call instead of text")
        usage = {"prompt_tokens": result.usage.prompt_tokens, "completion_tokens": result.usage.completion_tokens}
        return result.content, usage
