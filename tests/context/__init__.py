"""Shared helpers for the context-budget tests: a counter, wire rendering, a scripted summarizer."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from autogen_core import FunctionCall
from autogen_core.models import (
    AssistantMessage,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import ToolSchema
from autogen_ext.models.openai import OpenAIChatCompletionClient

from backend.context.tokens import TokenCounter

COUNTER = TokenCounter.load()

MODEL_INFO: dict[str, Any] = {
    "vision": False,
    "function_calling": True,
    "json_output": False,
    "family": "unknown",
    "structured_output": False,
}

SEARCH_TOOL: ToolSchema = {
    "name": "search",
    "description": "Search the project notes for a query and return the matching passages.",
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "what to look for"}},
        "required": ["query"],
        "additionalProperties": False,
    },
}

WORDS = [
    "the",
    "context",
    "budget",
    "keeps",
    "every",
    "request",
    "inside",
    "the",
    "window",
    "while",
    "the",
    "rolling",
    "summary",
    "remembers",
    "what",
    "mattered",
    "earlier",
    "in",
    "the",
    "conversation",
    "and",
    "the",
    "tools",
    "return",
    "long",
    "results",
]
CJK = "上下文预算让每个请求都在窗口之内滚动摘要记住早先对话中重要的内容日本語のテキストも混ざる"
CODE = 'def f(x):\n    return {"k": [x, "\\n", \'q\'], "t": "\\t"}  # 注释\n'


@functools.lru_cache(maxsize=4096)
def text_of(tokens: int, seed: int = 0, style: str = "words") -> str:
    """Deterministic text of roughly ``tokens`` cl100k tokens (words, CJK, or code)."""
    if style == "cjk":
        unit = CJK
    elif style == "code":
        unit = CODE
    else:
        unit = " ".join(WORDS[(seed + i) % len(WORDS)] for i in range(len(WORDS)))
    per_unit = max(1, COUNTER.count_text(unit))
    text = (unit + " ") * (tokens // per_unit + 1)
    return COUNTER.encoding.decode(COUNTER.encoding.encode_ordinary(text)[: max(1, tokens)], errors="ignore")


def client(*, include_name: bool = True, base_url: str = "http://127.0.0.1:9/v1") -> OpenAIChatCompletionClient:
    """A real OpenAI client (no request is made unless a test calls the model)."""
    return OpenAIChatCompletionClient(
        model="fake",
        base_url=base_url,
        api_key="x",
        model_info=MODEL_INFO,  # type: ignore[arg-type]
        include_name_in_message=include_name,
        max_tokens=512,
    )


def wire_body(
    oai: OpenAIChatCompletionClient,
    system_messages: Sequence[SystemMessage],
    messages: Sequence[LLMMessage],
    tools: Sequence[ToolSchema] = (),
) -> dict[str, Any]:
    """The JSON body AutoGen's OpenAI client would send for ``system + messages`` with ``tools``."""
    params = oai._process_create_args([*system_messages, *messages], list(tools), "auto", None, {})
    body: dict[str, Any] = {"messages": params.messages}
    if params.tools:
        body["tools"] = params.tools
    return json.loads(json.dumps(body, ensure_ascii=False))


def user(text: str, source: str = "user") -> UserMessage:
    return UserMessage(content=text, source=source)


def reply(text: str, source: str = "assistant") -> AssistantMessage:
    return AssistantMessage(content=text, source=source)


def call(*calls: tuple[str, str], source: str = "assistant", thought: str | None = None) -> AssistantMessage:
    """An assistant message with tool calls given as (call_id, arguments) pairs."""
    return AssistantMessage(
        content=[FunctionCall(id=cid, name="search", arguments=args) for cid, args in calls],
        source=source,
        thought=thought,
    )


def results(*items: tuple[str, str]) -> FunctionExecutionResultMessage:
    """Tool results given as (call_id, content) pairs."""
    return FunctionExecutionResultMessage(
        content=[FunctionExecutionResult(content=c, name="search", call_id=cid) for cid, c in items]
    )


@dataclass
class StubSummarizer:
    """Our Summarizer interface, scripted: good / raises / empty / not text / too long / slow."""

    mode: str = "good"
    keep: str = ""  # text a good summary always carries (e.g. a fact to track)
    calls: list[tuple[str, int, int]] = field(default_factory=list)  # (previous, entries, max_tokens)

    async def summarize(self, previous: str, entries: Sequence[str], *, max_tokens: int) -> Any:
        self.calls.append((previous, len(entries), max_tokens))
        if self.mode == "raises":
            raise RuntimeError("model exploded")
        if self.mode == "empty":
            return "   "
        if self.mode == "not_text":
            return ["not", "a", "string"]
        if self.mode == "too_long":
            return text_of(max_tokens * 3)
        if self.mode == "slow":
            import asyncio

            await asyncio.sleep(3600)
        facts = [self.keep] if self.keep and (self.keep in previous or any(self.keep in e for e in entries)) else []
        body = f"{len(entries)} messages about the project were discussed."
        return " ".join([*facts, body])[: max(1, max_tokens)]
