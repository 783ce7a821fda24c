"""The baseline: a client reading the fake model's SSE stream itself (httpx, no SDK)."""

from __future__ import annotations

from typing import Any

import httpx

from .common import now_ns
from .streams import StreamResult, directive


def make_client(connections: int = 1000) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(300.0))


def request_body(tokens: int, rate: float, history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    messages = [*(history or []), {"role": "user", "content": directive(tokens, rate)}]
    return {
        "model": "fake-model",
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 512,
    }


async def stream(
    client: httpx.AsyncClient,
    base_url: str,
    tokens: int,
    rate: float,
    *,
    history: list[dict[str, Any]] | None = None,
) -> StreamResult:
    result = StreamResult(expected=tokens)
    body = request_body(tokens, rate, history)
    result.sent_ns = now_ns()
    try:
        async with client.stream("POST", base_url + "/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: {") and '"content":" t' in line:
                    result.take(line, now_ns())
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.end_ns = now_ns()
    return result
