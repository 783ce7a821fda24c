"""4. Paced load: many sessions at a fixed token rate each; delivered/offered, added latency, CPU."""

from __future__ import annotations

import array
import asyncio
import json
from pathlib import Path
from typing import Any

from ..common import SCRIPTS, pct
from ..runner import Ctx, across, direct_many, gateway_many, latency_pair, stamp, stream_stats


def _one(ctx: Ctx, n: int, rate: float) -> dict[str, Any]:
    cfg = ctx.cfg
    tokens = cfg.paced_tokens
    stagger = 1.0
    repeats = []
    windows: list[tuple[int, int]] = []
    frames = ctx.results_dir / f"paced-{n}x{rate:g}-frames.json"
    frames.unlink(missing_ok=True)
    frames.with_name(frames.name + ".bin").unlink(missing_ok=True)
    env = {"BENCH_EXTRA_PYTHONPATH": str(SCRIPTS / "benchsuite" / "stages"), "BENCH_FRAMES_OUT": str(frames)}
    with ctx.gateway(env=env) as (gw, url, _):
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
            windows.append((info["start_ns"], info["end_ns"]))
    # written when the gateway exits: model write -> frame write per token, pooled over the repeats
    inside = _gateway_side(frames, windows)
    return {
        "settings": {"sessions": n, "rate": rate, "tokens_per_session": tokens, "offered_tokens_per_s": n * rate},
        "gateway_side": inside,
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


def _gateway_side(frames: Path, windows: list[tuple[int, int]]) -> dict[str, Any]:
    """Model write -> frame write for the measured streams' tokens (not the warm-up turns'), pooled
    over the repeats; the p99 per second since each repeat's start; the gateway's collections."""
    raw = frames.with_name(frames.name + ".bin")
    if not frames.exists() or not raw.exists():
        return {}
    pairs = array.array("q")
    with raw.open("rb") as source:
        pairs.frombytes(source.read())
    delays: list[float] = []  # ms
    by_second: dict[int, list[float]] = {}
    for i in range(0, len(pairs), 2):
        sent, delay = pairs[i], pairs[i + 1] / 1e6
        for start, end in windows:
            if start <= sent <= end:
                delays.append(delay)
                by_second.setdefault((sent - start) // 1_000_000_000, []).append(delay)
                break
    if not delays:
        return {"tokens": 0, **json.loads(frames.read_text(encoding="utf-8"))}
    return {
        "tokens": len(delays),
        "p50_ms": pct(delays, 50),
        "p99_ms": pct(delays, 99),
        "max_ms": max(delays),
        "p99_ms_by_second": {str(sec): pct(v, 99) for sec, v in sorted(by_second.items())},
        **json.loads(frames.read_text(encoding="utf-8")),
    }
