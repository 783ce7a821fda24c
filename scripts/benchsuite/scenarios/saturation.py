"""3. Tokens per core at saturation: many sessions streaming unpaced; delivered tokens/s and gateway
CPU per token (tokens counted by content: deltas are coalesced)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .. import layers
from ..profile import summarize
from ..runner import Ctx, across, direct_many, gateway_many, stamp, stream_stats


def _direct(ctx: Ctx, n: int, tokens: int) -> dict[str, Any]:
    c0 = time.process_time()
    stats = stream_stats(asyncio.run(direct_many(ctx.model_url, n, tokens, 0)))
    stats["client_cpu_us_per_token"] = (time.process_time() - c0) / max(1, stats["tokens"]) * 1e6
    return stats


def run(ctx: Ctx) -> dict[str, Any]:
    cfg = ctx.cfg
    n, tokens = cfg.sat_sessions, cfg.sat_tokens
    repeats = []
    with ctx.gateway() as (gw, url, _):
        for _ in range(cfg.repeats):
            start = stamp()
            d = _direct(ctx, n, tokens)
            results, info = asyncio.run(gateway_many(url, n, tokens, 0, gateway=gw))
            g = stream_stats(results)
            cpu = info["cpu_s"]
            g["gateway_cpu_s"] = cpu
            g["gateway_cpu_us_per_token"] = cpu / max(1, g["tokens"]) * 1e6
            g["tokens_per_core_s"] = g["tokens"] / cpu if cpu > 0 else float("nan")
            g["gateway_core_utilisation"] = cpu / g["wall_s"] if g["wall_s"] > 0 else float("nan")
            g["cpu_ms_per_first_turn"] = info.get("cpu_ms_per_first_turn")
            repeats.append(
                {
                    "direct": d,
                    "gateway": g,
                    "throughput_ratio": g["tokens_per_s"] / d["tokens_per_s"] if d["tokens_per_s"] else None,
                    "loadavg": start["loadavg"],
                }
            )
    per_layer = layers.run()  # in the bench process: stable per-token costs of each layer
    profile = None
    if ctx.profile:
        profile = _profile(ctx, n, tokens)
    return {
        "settings": {"sessions": n, "tokens_per_session": tokens, "rate": "unpaced"},
        "repeats": repeats,
        "gateway_tokens_per_s": across(repeats, "gateway", "tokens_per_s"),
        "direct_tokens_per_s": across(repeats, "direct", "tokens_per_s"),
        "throughput_ratio": across(repeats, "throughput_ratio"),
        "gateway_cpu_us_per_token": across(repeats, "gateway", "gateway_cpu_us_per_token"),
        "tokens_per_core_s": across(repeats, "gateway", "tokens_per_core_s"),
        "gateway_core_utilisation": across(repeats, "gateway", "gateway_core_utilisation"),
        "tokens_per_frame": across(repeats, "gateway", "tokens_per_frame"),
        "cpu_ms_per_first_turn": across(repeats, "gateway", "cpu_ms_per_first_turn"),
        "lost": across(repeats, "gateway", "lost"),
        "layers_in_process": per_layer,
        "profile": profile,
    }


def _profile(ctx: Ctx, n: int, tokens: int) -> dict[str, Any]:
    """One more gateway run under pyinstrument (its overhead inflates CPU: read it for shares only)."""
    out = ctx.results_dir / "profile-saturation.txt"
    tokens = min(tokens, 300)  # the profiler slows the gateway several times over
    with ctx.gateway(profile_to=out) as (gw, url, _):
        results, info = asyncio.run(gateway_many(url, n, tokens, 0, gateway=gw))
    stats = stream_stats(results)
    summary = summarize(out) if out.is_file() else None
    return {"file": str(out), "tokens": stats["tokens"], "cpu_s_under_profiler": info.get("cpu_s"), "summary": summary}
