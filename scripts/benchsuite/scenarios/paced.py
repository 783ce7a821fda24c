"""4. Paced load: many sessions at a fixed token rate each; delivered/offered, added latency, CPU."""

from __future__ import annotations

import asyncio
from typing import Any

from ..runner import Ctx, across, direct_many, gateway_many, latency_pair, stamp, stream_stats


def _one(ctx: Ctx, n: int, rate: float) -> dict[str, Any]:
    cfg = ctx.cfg
    tokens = cfg.paced_tokens
    stagger = 1.0
    repeats = []
    with ctx.gateway() as (gw, url, _):
        for _ in range(cfg.repeats):
            start = stamp()
            d = stream_stats(asyncio.run(direct_many(ctx.model_url, n, tokens, rate, stagger=stagger)))
            results, info = asyncio.run(gateway_many(url, n, tokens, rate, stagger=stagger, gateway=gw))
            g = stream_stats(results)
            g["gateway_cpu_s"] = info["cpu_s"]
            g["gateway_cpu_us_per_token"] = info["cpu_s"] / max(1, g["tokens"]) * 1e6
            g["gateway_core_utilisation"] = info["cpu_s"] / g["wall_s"] if g["wall_s"] > 0 else float("nan")
            g["delivered_over_offered"] = (
                g["delivered_tokens_per_s"] / g["offered_tokens_per_s"]
                if g["delivered_tokens_per_s"] and g["offered_tokens_per_s"]
                else float("nan")
            )
            d["delivered_over_offered"] = (
                d["delivered_tokens_per_s"] / d["offered_tokens_per_s"]
                if d["delivered_tokens_per_s"] and d["offered_tokens_per_s"]
                else float("nan")
            )
            repeats.append({"direct": d, "gateway": g, **latency_pair(d, g), "loadavg": start["loadavg"]})
    return {
        "settings": {"sessions": n, "rate": rate, "tokens_per_session": tokens, "offered_tokens_per_s": n * rate},
        "repeats": repeats,
        "delivered_over_offered": across(repeats, "gateway", "delivered_over_offered"),
        "direct_delivered_over_offered": across(repeats, "direct", "delivered_over_offered"),
        "lost": across(repeats, "gateway", "lost"),
        "added_p50_ms": across(repeats, "added_p50_ms"),
        "added_p99_ms": across(repeats, "added_p99_ms"),
        "direct_p99_ms": across(repeats, "direct", "latency_ms", "p99"),
        "gateway_p99_ms": across(repeats, "gateway", "latency_ms", "p99"),
        "gateway_cpu_us_per_token": across(repeats, "gateway", "gateway_cpu_us_per_token"),
        "gateway_core_utilisation": across(repeats, "gateway", "gateway_core_utilisation"),
        "tokens_per_frame": across(repeats, "gateway", "tokens_per_frame"),
    }


def run(ctx: Ctx) -> dict[str, Any]:
    return {f"{n}x{rate:g}": _one(ctx, n, rate) for n, rate in ctx.cfg.paced}
