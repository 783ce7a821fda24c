"""What every scenario gets: the config, the pinning, a work dir, the shared fake model, and helpers
to start a gateway and to drive many direct or gateway streams at once."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from . import direct
from .common import Config, Pinning, loadavg, now_ns, spread, summary
from .gateway import GatewayClient
from .procs import Proc, start_gateway
from .streams import StreamResult


@dataclass
class Ctx:
    cfg: Config
    pinning: Pinning
    work: Path
    model_url: str
    results_dir: Path
    profile: bool = False
    notes: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def gateway(self, *, data_dir: Path | None = None, profile_to: Path | None = None,
                env: dict[str, str] | None = None) -> Iterator[tuple[Proc, str, Path]]:  # fmt: skip
        proc, url, data = start_gateway(
            self.pinning, self.work, self.model_url, data_dir=data_dir, profile_to=profile_to, extra_env=env
        )
        try:
            yield proc, url, data
        finally:
            early = proc.popen.poll()
            if early is not None:
                self.notes.append(
                    f"a gateway exited during its scenario with code {early} and nothing in its log: "
                    "stopped from outside (this machine is shared)"
                    if early in (0, -15, -9)
                    else f"a gateway exited during its scenario with code {early}; see {proc.log_path}"
                )
            code = proc.stop(timeout=120 if profile_to else 20)
            if code not in (0, None, -15):
                self.notes.append(f"gateway exited with {code}; see {proc.log_path}")


# --- many streams at once ----------------------------------------------------------------------------
async def direct_many(model_url: str, n: int, tokens: int, rate: float, *, stagger: float = 0.0) -> list[StreamResult]:
    async with direct.make_client(n + 10) as client:

        async def one(i: int) -> StreamResult:
            if stagger:
                await asyncio.sleep(random.random() * stagger)
            return await direct.stream(client, model_url, tokens, rate)

        return list(await asyncio.gather(*(one(i) for i in range(n))))


async def connect_many(url: str, n: int, *, concurrency: int = 100) -> list[GatewayClient]:
    sem = asyncio.Semaphore(concurrency)

    async def one() -> GatewayClient:
        async with sem:
            return await GatewayClient(url).connect()

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def close_many(clients: list[GatewayClient]) -> None:
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def gateway_many(
    url: str,
    n: int,
    tokens: int,
    rate: float,
    *,
    stagger: float = 0.0,
    gateway: Proc | None = None,
) -> tuple[list[StreamResult], dict[str, Any]]:
    """n fresh sessions: connect, one warm-up turn each (builds the team), then the measured turn."""
    clients = await connect_many(url, n)
    info: dict[str, Any] = {}
    try:
        cpu0 = gateway.cpu() if gateway else 0.0
        info["warm_start_ns"] = now_ns()
        t0 = time.perf_counter()
        sem = asyncio.Semaphore(50)

        async def warm(c: GatewayClient) -> StreamResult:
            async with sem:
                return await c.turn(1, 0)

        warm_results = await asyncio.gather(*(warm(c) for c in clients))
        info["warmup_s"] = time.perf_counter() - t0
        info["warm_end_ns"] = now_ns()
        if gateway:
            info["cpu_ms_per_first_turn"] = (gateway.cpu() - cpu0) / n * 1e3
        info["warmup_errors"] = sum(1 for r in warm_results if r.error)
        await asyncio.sleep(0.3)

        async def one(c: GatewayClient) -> StreamResult:
            if stagger:
                await asyncio.sleep(random.random() * stagger)
            return await c.turn(tokens, rate)

        cpu1 = gateway.cpu() if gateway else 0.0
        info["start_ns"] = now_ns()
        results = list(await asyncio.gather(*(one(c) for c in clients)))
        info["end_ns"] = now_ns()
        if gateway:
            info["cpu_s"] = gateway.cpu() - cpu1
    finally:
        await close_many(clients)
    return results, info


def stream_stats(results: list[StreamResult]) -> dict[str, Any]:
    """Latency percentiles (ms), token counts and rates over a set of concurrent streams."""
    lat: list[float] = []
    for r in results:
        lat.extend(x / 1e6 for x in r.latencies_ns)
    tokens = sum(r.tokens for r in results)
    expected = sum(r.expected for r in results)
    frames = sum(r.frames for r in results)
    sent0 = min((r.sent_ns for r in results), default=0)
    end = max((r.end_ns for r in results), default=0)
    first_send = min((r.first_send_ns for r in results if r.first_send_ns), default=0)
    last_send = max((r.last_send_ns for r in results if r.last_send_ns), default=0)
    wall = (end - sent0) / 1e9 if end > sent0 else float("nan")
    send_window = (last_send - first_send) / 1e9 if last_send > first_send else float("nan")
    recv_window = (max(r.end_ns for r in results) - first_send) / 1e9 if first_send else float("nan")
    ttft = [(r.first_ns - r.sent_ns) / 1e6 for r in results if r.first_ns]
    return {
        "streams": len(results),
        "errors": sum(1 for r in results if r.error),
        "error_sample": next((r.error for r in results if r.error), None),
        "tokens": tokens,
        "expected": expected,
        "lost": expected - tokens,
        "frames": frames,
        "tokens_per_frame": tokens / frames if frames else float("nan"),
        "wall_s": wall,
        "tokens_per_s": tokens / wall if wall == wall and wall > 0 else float("nan"),
        "offered_tokens_per_s": expected / send_window if send_window == send_window and send_window > 0 else None,
        "delivered_tokens_per_s": tokens / recv_window if recv_window == recv_window and recv_window > 0 else None,
        "latency_ms": summary(lat),
        "ttft_ms": summary(ttft),
    }


def latency_pair(direct_stats: dict[str, Any], gw_stats: dict[str, Any]) -> dict[str, float]:
    d, g = direct_stats["latency_ms"], gw_stats["latency_ms"]
    out: dict[str, float] = {}
    for q in ("p50", "p90", "p99", "max"):
        if q in d and q in g:
            out[f"added_{q}_ms"] = g[q] - d[q]
            out[f"ratio_{q}"] = g[q] / d[q] if d[q] else float("nan")
    return out


def across(repeats: list[dict[str, Any]], *path: str) -> dict[str, float]:
    """min / median / max of one number across repeats (``path`` walks nested dicts)."""
    values = []
    for r in repeats:
        v: Any = r
        for key in path:
            v = v.get(key) if isinstance(v, dict) else None
        if isinstance(v, (int, float)):
            values.append(float(v))
    return spread(values)


def stamp() -> dict[str, Any]:
    return {"loadavg": loadavg(), "t": time.time()}


async def fetch_last_request(model_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        response = await client.get(model_url + "/bench/last-request")
        return dict(response.json())
