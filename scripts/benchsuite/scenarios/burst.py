"""10. A burst of first turns: many sessions send their first message at the same instant (half resume a
stored session, whose team is restored from saved state, half are new, whose team is built fresh)
while other sessions stream paced and a probe process pings the gateway every 5 ms.

Measured: the ping round trips during the burst over the idle round trip (a stall of the gateway's
event loop delays every pong behind it), the background streams' per-token latency during the burst
against before it and their lost tokens, and the burst's own time to first delta (what admitting the
burst costs the burst).

Structure, fixed: connect and resume every burst client first, start the probe, start the background
streams (starts spread evenly over one token interval), wait ``burst_lead_s``, then release every
burst client's send together (one ``asyncio.Event``) and wait for every ``done``.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from typing import Any

from ..common import now_ns, summary
from ..gateway import GatewayClient
from ..procs import start_helper
from ..runner import Ctx, across, close_many, connect_many, stamp
from ..seed import StateFactory, seed_sessions
from ..streams import StreamResult

BURST_TOKENS = 5  # each burst turn's reply, unpaced
PROBE_START_S = 1.0  # the probe process starts (and connects) before the background streams


def _pings(samples: list[list[float]], lo: int, hi: int) -> dict[str, Any]:
    """Ping round trips in flight at some time between ``lo`` and ``hi`` (ns; a ping sent just before
    a stall shows it): a summary and how many were slow."""
    inside = [(sent, rtt) for sent, rtt in samples if sent < hi and sent + rtt * 1e6 > lo]
    rtts = [rtt for _, rtt in inside]
    worst = max(inside, key=lambda s: s[1], default=None)
    return {
        "rtt_ms": summary(rtts),
        "worst_sent_after_start_ms": (worst[0] - lo) / 1e6 if worst else None,
        "over_5ms": sum(1 for r in rtts if r > 5),
        "over_20ms": sum(1 for r in rtts if r > 20),
        "seconds": max(0, hi - lo) / 1e9,
    }


def _window(results: list[StreamResult], lo: int, hi: int) -> list[float]:
    """Background token latencies (ms) of the tokens the model sent between ``lo`` and ``hi``."""
    out: list[float] = []
    for r in results:
        assert r.sends_ns is not None
        out.extend(lat / 1e6 for sent, lat in zip(r.sends_ns, r.latencies_ns, strict=True) if lo <= sent < hi)
    return out


async def _prepare(url: str, stored: list[str], new: int) -> list[GatewayClient]:
    """Connected burst clients: the first ``len(stored)`` resumed on a stored session each."""
    clients = await connect_many(url, len(stored) + new)
    sem = asyncio.Semaphore(20)

    async def resume(client: GatewayClient, sid: str) -> None:
        async with sem:
            await client.resume(sid)

    await asyncio.gather(*(resume(c, sid) for c, sid in zip(clients, stored, strict=False)))
    return clients


async def _repeat(ctx: Ctx, url: str, background: list[GatewayClient], stored: list[str], new: int,
                  gateway_cpu: Any) -> dict[str, Any]:  # fmt: skip
    cfg = ctx.cfg
    rate, tokens = cfg.burst_background_rate, cfg.burst_background_tokens
    burst = await _prepare(url, stored, new)
    kinds = ["restored"] * len(stored) + ["built"] * new
    release = asyncio.Event()
    try:
        bg_results = [StreamResult(sends_ns=array("q")) for _ in background]

        async def stream(i: int, client: GatewayClient) -> StreamResult:
            await asyncio.sleep(i / max(1, len(background)) / rate)  # starts spread over one token interval
            return await client.turn(tokens, rate, result=bg_results[i])

        async def first_turn(client: GatewayClient) -> StreamResult:
            await release.wait()
            return await client.turn(BURST_TOKENS, 0)

        bg_start = now_ns()
        bg_task = asyncio.gather(*(stream(i, c) for i, c in enumerate(background)))
        burst_task = asyncio.gather(*(first_turn(c) for c in burst))
        await asyncio.sleep(cfg.burst_lead_s)
        cpu0 = gateway_cpu()
        released = now_ns()
        release.set()
        turns = await burst_task
        burst_end = max(r.end_ns for r in turns)
        cpu1 = gateway_cpu()
        await bg_task
        bg_end = max(r.end_ns for r in bg_results)
    finally:
        release.set()
        await close_many(burst)
    baseline = (bg_start + int(1e9), released)  # background in its steady state, before the burst
    window = (released, burst_end)
    before, during = _window(bg_results, *baseline), _window(bg_results, *window)
    b, d = summary(before), summary(during)
    ttft = [(r.first_ns - r.sent_ns) / 1e6 for r in turns if r.first_ns]
    pairs = list(zip(turns, kinds, strict=True))
    by_kind = {
        kind: summary([(r.first_ns - r.sent_ns) / 1e6 for r, k in pairs if k == kind and r.first_ns])
        for kind in ("restored", "built")
    }
    expected = sum(r.expected for r in bg_results)
    return {
        "windows_ns": {"background": [bg_start, bg_end], "baseline": list(baseline), "burst": list(window)},
        "burst": {
            "turns": len(turns),
            "errors": sum(1 for r in turns if r.error),
            "error_sample": next((r.error for r in turns if r.error), None),
            "ttft_ms": summary(ttft),
            "ttft_by_team_ms": by_kind,
            "done_after_release_ms": summary([(r.end_ns - released) / 1e6 for r in turns]),
            "seconds": (burst_end - released) / 1e9,
            "turns_per_s": len(turns) / ((burst_end - released) / 1e9) if burst_end > released else float("nan"),
            "gateway_cpu_ms_per_turn": (cpu1 - cpu0) / max(1, len(turns)) * 1e3,
        },
        "background": {
            "sessions": len(background),
            "tokens": sum(r.tokens for r in bg_results),
            "expected": expected,
            "lost": expected - sum(r.tokens for r in bg_results),
            "errors": sum(1 for r in bg_results if r.error),
            "before_ms": b,
            "during_ms": d,
            "added_p50_ms": d.get("p50", float("nan")) - b.get("p50", float("nan")),
            "added_p99_ms": d.get("p99", float("nan")) - b.get("p99", float("nan")),
            "added_max_ms": d.get("max", float("nan")) - b.get("max", float("nan")),
            "outlasted_by_burst": burst_end > bg_end,
        },
    }


def run(ctx: Ctx) -> dict[str, Any]:
    cfg = ctx.cfg
    restored = cfg.burst_turns // 2
    new = cfg.burst_turns - restored
    factory = StateFactory(ctx.work / "seed-state")
    state, facts = asyncio.run(factory.state_json(8))
    asyncio.run(factory.close())
    data = ctx.work / "burst-data"
    data.mkdir(exist_ok=True)
    ids = seed_sessions(data / "agentchat.db", state, restored * cfg.repeats)
    bg_seconds = cfg.burst_background_tokens / cfg.burst_background_rate
    repeats = []
    with ctx.gateway(data_dir=data) as (gw, url, _):
        idle = start_helper("benchsuite.probe", ["--url", url, "--duration", "3"], ctx.pinning, ctx.work, "probe")
        idle_result = idle.wait_ready(60)["result"]
        idle.stop()
        idle_p50 = idle_result["rtt_ms"].get("p50", 0.0)
        idle_result.pop("samples", None)

        async def warm() -> list[GatewayClient]:
            clients = await connect_many(url, cfg.burst_background)
            for result in await asyncio.gather(*(c.turn(1, 0) for c in clients)):  # builds their teams
                if result.error:
                    raise RuntimeError(f"background warm-up turn failed: {result.error}")
            return clients

        loop = asyncio.new_event_loop()
        try:
            background = loop.run_until_complete(warm())
            for r in range(cfg.repeats):
                start = stamp()
                duration = PROBE_START_S + bg_seconds + 2.0
                probe = start_helper("benchsuite.probe", ["--url", url, "--duration", f"{duration:.1f}"],
                                     ctx.pinning, ctx.work, "probe")  # fmt: skip
                time.sleep(PROBE_START_S)
                chunk = ids[r * restored : (r + 1) * restored]
                rep = loop.run_until_complete(_repeat(ctx, url, background, chunk, new, gw.cpu))
                lag = probe.wait_ready(duration + 120)["result"]
                probe.stop()
                samples = lag.pop("samples", [])
                w = rep.pop("windows_ns")
                phases = {
                    "background_only": _pings(samples, *w["baseline"]),
                    "burst": _pings(samples, *w["burst"]),
                    "after_burst": _pings(samples, w["burst"][1], w["background"][1]),
                }
                worst = phases["burst"]["rtt_ms"].get("max", float("nan"))
                p99 = phases["burst"]["rtt_ms"].get("p99", float("nan"))
                rep.update(
                    probe=lag,
                    phases=phases,
                    stall_max_ms=worst - idle_p50,
                    stall_p99_ms=p99 - idle_p50,
                    loadavg=start["loadavg"],
                )
                if rep["background"]["outlasted_by_burst"]:
                    ctx.notes.append("burst: a burst outlasted its background streams (raise burst_background_tokens)")
                repeats.append(rep)
            loop.run_until_complete(close_many(background))
        finally:
            loop.close()
    return {
        "settings": {
            "turns": cfg.burst_turns,
            "restored": restored,
            "built": new,
            "burst_tokens": BURST_TOKENS,
            "background_sessions": cfg.burst_background,
            "background_rate": cfg.burst_background_rate,
            "background_tokens": cfg.burst_background_tokens,
            "lead_s": cfg.burst_lead_s,
            "history": facts,
        },
        "idle": idle_result,
        "repeats": repeats,
        "stall_max_ms": across(repeats, "stall_max_ms"),
        "stall_p99_ms": across(repeats, "stall_p99_ms"),
        "background_added_p99_ms": across(repeats, "background", "added_p99_ms"),
        "background_added_max_ms": across(repeats, "background", "added_max_ms"),
        "background_lost": across(repeats, "background", "lost"),
        "burst_ttft_p50_ms": across(repeats, "burst", "ttft_ms", "p50"),
        "burst_ttft_p99_ms": across(repeats, "burst", "ttft_ms", "p99"),
        "burst_ttft_max_ms": across(repeats, "burst", "ttft_ms", "max"),
        "burst_seconds": across(repeats, "burst", "seconds"),
        "burst_errors": across(repeats, "burst", "errors"),
    }
