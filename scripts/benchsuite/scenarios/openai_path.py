"""9. The OpenAI-compatible face beside the WebSocket: one session paced like ``latency``, in the same run.

Three readers of the same fake model stream, one after the other on one gateway: the direct client,
the WebSocket protocol, and ``POST /v1/chat/completions`` with ``stream: true`` and a
``conversation_id`` (read with httpx line by line, as the openai SDK does). Per-token added latency
and the gateway's CPU per token for both faces.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from ..common import now_ns
from ..direct import make_client
from ..runner import Ctx, across, latency_pair, stamp, stream_stats
from ..streams import StreamResult, directive
from . import latency


async def _openai_turn(http: httpx.AsyncClient, base: str, conversation: str, tokens: int, rate: float) -> StreamResult:
    result = StreamResult(expected=tokens)
    body = {
        "model": "solo",
        "stream": True,
        "conversation_id": conversation,
        "messages": [{"role": "user", "content": directive(tokens, rate)}],
    }
    result.sent_ns = now_ns()
    try:
        async with http.stream("POST", base + "/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                result.error = f"HTTP {response.status_code}: {(await response.aread())[:200]!r}"
            async for line in response.aiter_lines():
                if line.startswith("data: {") and "@" in line:  # a chunk carrying model tokens
                    result.take(line, now_ns())
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.end_ns = now_ns()
    return result


async def _openai(url: str, tokens: int, rate: float, conversation: str) -> StreamResult:
    base = "http://" + url.split("://", 1)[1].rstrip("/")
    async with make_client(2) as http:
        await _openai_turn(http, base, conversation, 1, 0)  # builds the team
        return await _openai_turn(http, base, conversation, tokens, rate)


def run(ctx: Ctx) -> dict[str, Any]:
    cfg = ctx.cfg
    tokens, rate = cfg.latency_tokens, cfg.latency_rate
    repeats = []
    with ctx.gateway() as (gw, url, _):
        for i in range(cfg.repeats):
            start = stamp()
            d = stream_stats([asyncio.run(latency.direct(ctx.model_url, tokens, rate))])
            cpu0 = gw.cpu()
            w = stream_stats([asyncio.run(latency.gateway_turn(url, tokens, rate))])
            cpu1 = gw.cpu()
            o = stream_stats([asyncio.run(_openai(url, tokens, rate, f"bench-{i}"))])
            cpu2 = gw.cpu()
            ws_pair, oa_pair = latency_pair(d, w), latency_pair(d, o)
            repeats.append(
                {
                    "direct": d,
                    "websocket": w,
                    "openai": o,
                    "ws_added_p50_ms": ws_pair.get("added_p50_ms"),
                    "ws_added_p99_ms": ws_pair.get("added_p99_ms"),
                    "openai_added_p50_ms": oa_pair.get("added_p50_ms"),
                    "openai_added_p99_ms": oa_pair.get("added_p99_ms"),
                    # both include one warm-up turn of one token
                    "ws_cpu_us_per_token": (cpu1 - cpu0) / max(1, w["tokens"]) * 1e6,
                    "openai_cpu_us_per_token": (cpu2 - cpu1) / max(1, o["tokens"]) * 1e6,
                    "loadavg": start["loadavg"],
                }
            )
    return {
        "settings": {"sessions": 1, "tokens": tokens, "rate": rate},
        "repeats": repeats,
        "ws_added_p50_ms": across(repeats, "ws_added_p50_ms"),
        "ws_added_p99_ms": across(repeats, "ws_added_p99_ms"),
        "openai_added_p50_ms": across(repeats, "openai_added_p50_ms"),
        "openai_added_p99_ms": across(repeats, "openai_added_p99_ms"),
        "ws_cpu_us_per_token": across(repeats, "ws_cpu_us_per_token"),
        "openai_cpu_us_per_token": across(repeats, "openai_cpu_us_per_token"),
        "openai_lost": across(repeats, "openai", "lost"),
        "openai_errors": across(repeats, "openai", "errors"),
    }
