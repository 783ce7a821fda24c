"""1. Added latency per token: one session paced at 50 tok/s, direct vs through the gateway."""

from __future__ import annotations

import asyncio
from typing import Any

from ..direct import make_client, stream
from ..gateway import GatewayClient
from ..runner import Ctx, across, latency_pair, stamp, stream_stats


async def gateway_turn(url: str, tokens: int, rate: float) -> Any:
    """One session over the WebSocket: a first turn builds the team, the second is measured."""
    client = await GatewayClient(url).connect()
    try:
        await client.turn(1, 0)  # builds the team: not part of the per-token path
        return await client.turn(tokens, rate)
    finally:
        await client.close()


async def direct(url: str, tokens: int, rate: float) -> Any:
    async with make_client(4) as client:
        return await stream(client, url, tokens, rate)


def run(ctx: Ctx) -> dict[str, Any]:
    cfg = ctx.cfg
    repeats = []
    with ctx.gateway() as (gw, url, _):
        for _ in range(cfg.repeats):
            start = stamp()
            d = stream_stats([asyncio.run(direct(ctx.model_url, cfg.latency_tokens, cfg.latency_rate))])
            cpu0 = gw.cpu()
            g = stream_stats([asyncio.run(gateway_turn(url, cfg.latency_tokens, cfg.latency_rate))])
            cpu = gw.cpu() - cpu0
            repeats.append(
                {
                    "direct": d,
                    "gateway": g,
                    **latency_pair(d, g),
                    "gateway_cpu_us_per_token": cpu / max(1, g["tokens"]) * 1e6,
                    "loadavg": start["loadavg"],
                }
            )
    return {
        "settings": {"sessions": 1, "tokens": cfg.latency_tokens, "rate": cfg.latency_rate},
        "repeats": repeats,
        "added_p50_ms": across(repeats, "added_p50_ms"),
        "added_p99_ms": across(repeats, "added_p99_ms"),
        "direct_p50_ms": across(repeats, "direct", "latency_ms", "p50"),
        "direct_p99_ms": across(repeats, "direct", "latency_ms", "p99"),
        "gateway_p50_ms": across(repeats, "gateway", "latency_ms", "p50"),
        "gateway_p99_ms": across(repeats, "gateway", "latency_ms", "p99"),
        "ratio_p50": across(repeats, "ratio_p50"),
        "ratio_p99": across(repeats, "ratio_p99"),
        "tokens_per_frame": across(repeats, "gateway", "tokens_per_frame"),
        "lost": across(repeats, "gateway", "lost"),
    }
