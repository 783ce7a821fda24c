"""5. Idle sessions: many connected sessions, each resumed from a stored ~4k-token history; RSS per
session. Stage 1: attached (team not built: the server builds it on the first turn). Stage 2: a
subset runs one short turn, so the team and its restored (and folded) history are in memory."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from ..common import raise_fd_limit
from ..runner import Ctx, close_many, connect_many, stamp
from ..seed import StateFactory, seed_sessions


async def _stage(url: str, ids: list[str], team_sessions: int, gw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    await asyncio.sleep(1.0)
    rss0 = gw.rss()
    clients = await connect_many(url, len(ids), concurrency=200)
    await asyncio.sleep(1.0)
    rss_conn = gw.rss()
    sem = asyncio.Semaphore(100)

    async def resume(c: Any, sid: str) -> None:
        async with sem:
            await c.resume(sid)

    t0 = time.perf_counter()
    await asyncio.gather(*(resume(c, sid) for c, sid in zip(clients, ids, strict=True)))
    out["resume_all_s"] = time.perf_counter() - t0
    await asyncio.sleep(2.0)
    rss_resumed = gw.rss()
    n = len(ids)
    out.update(
        {
            "sessions": n,
            "rss_start_mib": rss0 / 2**20,
            "rss_connected_mib": rss_conn / 2**20,
            "rss_resumed_mib": rss_resumed / 2**20,
            "kib_per_connection": (rss_conn - rss0) / n / 1024,
            "kib_per_session_attached": (rss_resumed - rss0) / n / 1024,
        }
    )
    if team_sessions:
        subset = clients[:team_sessions]
        t0 = time.perf_counter()
        cpu0 = gw.cpu()

        async def turn(c: Any) -> Any:
            async with sem:
                return await c.turn(1, 0)

        results = await asyncio.gather(*(turn(c) for c in subset))
        out["team_turns_s"] = time.perf_counter() - t0
        out["cpu_ms_per_restoring_turn"] = (gw.cpu() - cpu0) / team_sessions * 1e3
        out["team_turn_errors"] = sum(1 for r in results if r.error)
        await asyncio.sleep(3.0)  # let post-turn compaction finish
        rss_team = gw.rss()
        out["team_sessions"] = team_sessions
        out["rss_with_teams_mib"] = rss_team / 2**20
        out["kib_per_session_with_team"] = (rss_team - rss_resumed) / team_sessions / 1024 + out[
            "kib_per_session_attached"
        ]
    await close_many(clients)
    gc.collect()
    return out


def run(ctx: Ctx) -> dict[str, Any]:
    cfg = ctx.cfg
    fds = raise_fd_limit(max(65536, cfg.idle_sessions * 2 + 1000))
    factory = StateFactory(ctx.work / "seed-state")
    state, facts = asyncio.run(factory.state_json(cfg.idle_history_messages))
    asyncio.run(factory.close())
    data = ctx.work / "idle-data"
    data.mkdir(exist_ok=True)
    ids = seed_sessions(data / "agentchat.db", state, cfg.idle_sessions)
    start = stamp()
    with ctx.gateway(data_dir=data) as (gw, url, _):
        result = asyncio.run(_stage(url, ids, min(cfg.idle_team_sessions, cfg.idle_sessions), gw))
    result["history"] = facts
    result["state_bytes"] = len(state.encode())
    result["fd_limit"] = fds
    result["loadavg"] = start["loadavg"]
    result["note"] = "single run: RSS deltas are not repeated (each run needs a fresh gateway and seeding)"
    return result
