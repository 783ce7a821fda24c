"""7. Context step: fitting 40..640-message histories (scripts/bench_context.py, no model calls), and
event-loop lag (ping round trips from a probe process) while many sessions stream and summaries run."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..common import summary
from ..procs import start_helper
from ..runner import Ctx, gateway_many, stamp, stream_stats
from ..seed import _bench_context


def _context_step(ctx: Ctx) -> list[dict[str, Any]]:
    bench_context = _bench_context()
    rows = asyncio.run(bench_context.run(ctx.cfg.context_sizes, ctx.cfg.context_repeats))
    out = []
    for row in rows:
        item = dict(row)
        for key in ("fits_ms", "fold_ms"):
            lo, mid, hi = row[key]
            item[key] = {"min": lo, "median": mid, "max": hi}
        out.append(item)
    return out


def _probe(ctx: Ctx, url: str, duration: float) -> Any:
    return start_helper(
        "benchsuite.probe", ["--url", url, "--duration", f"{duration:.1f}"], ctx.pinning, ctx.work, "probe"
    )


def _phase(samples: list[list[float]], lo: int, hi: int) -> dict[str, Any]:
    """Ping round trips sent between ``lo`` and ``hi`` (ns): a summary and how many were slow."""
    rtts = [rtt for sent, rtt in samples if lo <= sent < hi]
    return {"rtt_ms": summary(rtts), "over_5ms": sum(1 for r in rtts if r > 5), "seconds": max(0, hi - lo) / 1e9}


def _lag(ctx: Ctx) -> dict[str, Any]:
    cfg = ctx.cfg
    n, tokens, rate = cfg.lag_sessions, cfg.lag_tokens, cfg.lag_rate
    out: dict[str, Any] = {"settings": {"sessions": n, "tokens": tokens, "rate": rate}}
    with ctx.gateway() as (gw, url, _):
        idle = _probe(ctx, url, 3.0)
        out["idle"] = idle.wait_ready(60)["result"]
        idle.stop()
        runs = []
        for _ in range(cfg.repeats):
            start = stamp()
            expected = n * 0.08 + 2.0 + tokens / rate + 10.0  # team builds, staggered starts, stream, ends
            probe = _probe(ctx, url, expected)
            t0 = time.perf_counter()
            results, info = asyncio.run(gateway_many(url, n, tokens, rate, stagger=1.0, gateway=gw))
            time.sleep(2.0)  # let the turn ends (save state, summaries) run while the probe watches
            busy = time.perf_counter() - t0
            lag = probe.wait_ready(expected + 120)["result"]
            probe.stop()
            stats = stream_stats(results)
            samples = lag.pop("samples", [])
            first_done = min((r.end_ns for r in results), default=info["end_ns"])
            phases = {
                "team_builds": (info["warm_start_ns"], info["warm_end_ns"]),
                # after the staggered starts (each turn's model call is set up then): the steady state
                "streaming": (info["start_ns"] + int(3e9), first_done),
                "turn_ends_and_summaries": (first_done, info["end_ns"] + int(2e9)),
            }
            runs.append(
                {
                    "probe": lag,
                    "phases": {name: _phase(samples, lo, hi) for name, (lo, hi) in phases.items()},
                    "stream_seconds": busy,
                    "tokens": stats["tokens"],
                    "lost": stats["lost"],
                    "gateway_p99_ms": stats["latency_ms"].get("p99"),
                    "loadavg": start["loadavg"],
                }
            )
        out["repeats"] = runs
    return out


def run(ctx: Ctx) -> dict[str, Any]:
    return {"context_step": _context_step(ctx), "loop_lag": _lag(ctx)}
