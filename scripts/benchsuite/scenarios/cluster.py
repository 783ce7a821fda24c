"""Cluster: PostgreSQL vs SQLite per token (same run), throughput with 1/2/3 processes on one
PostgreSQL, and the time a survivor needs to take over a dead owner's session.

A throwaway PostgreSQL (initdb/pg_ctl, ``tests/support/postgres.py``) runs for the scenario, with
fsync and synchronous_commit off as in the tests (a production server pays an fsync per commit
on top: a WAL flush per event batch). The throughput part does not pin the gateways
(several processes must be free to use both cores); on a 2-core machine it can show 1 -> 2.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from ..common import Pinning
from ..gateway import GatewayClient, directive
from ..procs import start_gateway
from ..runner import Ctx, across, close_many, connect_many, latency_pair, stream_stats

LEASE = 3.0


def _pg() -> Any:
    from tests.support.postgres import PgCluster, find_bindir

    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    cluster = PgCluster(bindir, tcp=True)
    return cluster.start()


async def _paced(url: str, tokens: int, rate: float, gw: Any) -> tuple[Any, float]:
    """One session paced at ``rate``; (stream, gateway CPU seconds of the measured turn)."""
    client = await GatewayClient(url).connect()
    try:
        await client.turn(1, 0)  # builds the team
        cpu0 = gw.cpu()
        result = await client.turn(tokens, rate)
        return result, gw.cpu() - cpu0
    finally:
        await client.close()


async def _saturate(urls: list[str], sessions: int, tokens: int) -> dict[str, Any]:
    """``sessions`` sessions spread round robin over ``urls``, warmed up, then all stream at once."""
    clients: list[GatewayClient] = []
    for i, url in enumerate(urls):
        clients += await connect_many(url, sessions // len(urls) + (1 if i < sessions % len(urls) else 0))
    try:
        await asyncio.gather(*(c.turn(1, 0) for c in clients))
        results = list(await asyncio.gather(*(c.turn(tokens, 0) for c in clients)))
    finally:
        await close_many(clients)
    return stream_stats(results)


def _per_token(ctx: Ctx, pg: Any) -> dict[str, Any]:
    cfg = ctx.cfg
    out: dict[str, Any] = {}
    for engine in ("sqlite", "postgres"):
        env = {"DATABASE_URL": pg.database()} if engine == "postgres" else {}
        repeats = []
        with ctx.gateway(env=env) as (gw, url, _):
            for _ in range(cfg.repeats):
                stream, cpu_paced = asyncio.run(_paced(url, cfg.latency_tokens, cfg.latency_rate, gw))
                paced = stream_stats([stream])
                cpu0 = gw.cpu()
                sat = asyncio.run(_saturate([url], cfg.cluster_sessions, cfg.cluster_tokens))
                cpu_sat = gw.cpu() - cpu0
                repeats.append(
                    {
                        "paced": paced,
                        "paced_cpu_us_per_token": cpu_paced / max(1, paced["tokens"]) * 1e6,
                        "saturated": sat,
                        # includes the warm-up turns' cost spread over the measured tokens
                        "saturated_cpu_us_per_token": cpu_sat / max(1, sat["tokens"]) * 1e6,
                    }
                )
        out[engine] = {
            "repeats": repeats,
            "paced_p50_ms": across(repeats, "paced", "latency_ms", "p50"),
            "paced_p99_ms": across(repeats, "paced", "latency_ms", "p99"),
            "paced_cpu_us_per_token": across(repeats, "paced_cpu_us_per_token"),
            "saturated_tokens_per_s": across(repeats, "saturated", "tokens_per_s"),
            "saturated_p99_ms": across(repeats, "saturated", "latency_ms", "p99"),
            "saturated_cpu_us_per_token": across(repeats, "saturated_cpu_us_per_token"),
            "lost": across(repeats, "saturated", "lost"),
        }
    pairs = [
        latency_pair(s["paced"], p["paced"])
        for s, p in zip(out["sqlite"]["repeats"], out["postgres"]["repeats"], strict=True)
    ]
    out["postgres_added_p50_ms"] = across(pairs, "added_p50_ms")
    out["postgres_added_p99_ms"] = across(pairs, "added_p99_ms")
    return out


def _throughput(ctx: Ctx, pg: Any) -> dict[str, Any]:
    cfg = ctx.cfg
    free = Pinning(enabled=False, method="none")
    out: dict[str, Any] = {}
    for n in (1, 2, 3):
        url_db = pg.database()
        procs = [
            start_gateway(free, ctx.work, ctx.model_url, extra_env={"DATABASE_URL": url_db, "INSTANCE_ID": f"g{i}"})
            for i in range(n)
        ]
        try:
            repeats = [
                asyncio.run(_saturate([url for _, url, _ in procs], cfg.cluster_sessions, cfg.cluster_tokens))
                for _ in range(cfg.repeats)
            ]
        finally:
            for proc, _, _ in procs:
                proc.stop(timeout=20)
        out[f"{n}_processes"] = {
            "repeats": repeats,
            "tokens_per_s": across(repeats, "tokens_per_s"),
            "p99_ms": across(repeats, "latency_ms", "p99"),
            "lost": across(repeats, "lost"),
        }
    return out


async def _one_takeover(owner_url: str, survivor_url: str, kill: Any) -> dict[str, float]:
    owner = await GatewayClient(owner_url).connect()
    watcher = await GatewayClient(survivor_url).connect()
    try:
        await owner.turn(1, 0)
        assert owner.ws is not None and watcher.ws is not None
        await owner.ws.send(
            json.dumps({"type": "message", "session_id": owner.session_id, "content": directive(100000, 50)})
        )
        await watcher.resume(owner.session_id or "", owner.last_seq)
        while True:  # the stream reaches the survivor's client through the owner's notifications
            frame = await watcher.ws.recv()
            if isinstance(frame, str) and frame.startswith('{"type":"delta"'):
                break
        killed = time.perf_counter()
        kill()
        while True:
            frame = await asyncio.wait_for(watcher.ws.recv(), 60)
            if isinstance(frame, str) and frame.startswith('{"type":"done"'):
                closed = time.perf_counter()
                assert json.loads(frame).get("interrupted") is True, frame
                break
        return {"takeover_s": closed - killed, "beyond_lease_s": closed - killed - LEASE}
    finally:
        await watcher.close()
        await asyncio.gather(owner.close(), return_exceptions=True)


def _takeover(ctx: Ctx, pg: Any) -> dict[str, Any]:
    free = Pinning(enabled=False, method="none")
    env = {"DATABASE_URL": pg.database(), "LEASE_SECONDS": str(LEASE)}
    survivor, survivor_url, _ = start_gateway(free, ctx.work, ctx.model_url, extra_env={**env, "INSTANCE_ID": "s"})
    repeats = []
    try:
        for i in range(ctx.cfg.repeats):
            owner, owner_url, _ = start_gateway(
                free, ctx.work, ctx.model_url, extra_env={**env, "INSTANCE_ID": f"o{i}"}
            )
            try:
                repeats.append(asyncio.run(_one_takeover(owner_url, survivor_url, owner.popen.kill)))
            finally:
                owner.stop(timeout=5)
    finally:
        survivor.stop(timeout=20)
    return {
        "lease_seconds": LEASE,
        "repeats": repeats,
        "takeover_s": across(repeats, "takeover_s"),
        "beyond_lease_s": across(repeats, "beyond_lease_s"),
    }


def run(ctx: Ctx) -> dict[str, Any]:
    pg = _pg()
    try:
        return {
            "settings": {
                "sessions": ctx.cfg.cluster_sessions,
                "tokens": ctx.cfg.cluster_tokens,
                "paced_tokens": ctx.cfg.latency_tokens,
                "paced_rate": ctx.cfg.latency_rate,
                "lease_seconds": LEASE,
            },
            "per_token": _per_token(ctx, pg),
            "throughput": _throughput(ctx, pg),
            "takeover": _takeover(ctx, pg),
        }
    finally:
        pg.stop()
