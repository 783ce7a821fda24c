"""6. Cold restore: reconnect to one of many stored sessions. From outside: resume -> ``resumed``, and
resume + first message -> first delta. In-process: the exact "team ready" step the server runs on the
first turn (``TeamFactory.build`` + ``team.load_state``), with and without stored token counts."""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

from ..common import THINK_TIME_S, summary
from ..gateway import GatewayClient
from ..runner import Ctx, across, fetch_last_request, stamp
from ..scenarios.ttft import TTFT_TOKENS, _direct
from ..seed import StateFactory, seed_sessions


async def _samples(url: str, ids: list[str]) -> dict[str, list[float]]:
    client = await GatewayClient(url).connect()
    out: dict[str, list[float]] = {"resume_ms": [], "first_delta_ms": [], "resume_to_first_delta_ms": []}
    try:
        for sid in ids:
            await asyncio.sleep(THINK_TIME_S)
            sent, resumed = await client.resume(sid)
            turn = await client.turn(TTFT_TOKENS, 0)
            if turn.error or not turn.first_ns:
                raise RuntimeError(f"turn failed: {turn.error}")
            out["resume_ms"].append((resumed - sent) / 1e6)
            out["first_delta_ms"].append((turn.first_ns - turn.sent_ns) / 1e6)
            out["resume_to_first_delta_ms"].append((turn.first_ns - sent) / 1e6)
    finally:
        await client.close()
    return out


async def team_ready(factory: StateFactory, state: str, count: int) -> dict[str, Any]:
    """build + load_state, as ``Session._ensure_team`` does; also without the stored token counts."""
    stripped = json.loads(state)
    for agent in (stripped.get("agent_states") or {}).values():
        ctx = (agent.get("llm_context") if isinstance(agent, dict) else None) or {}
        ctx.pop("token_counts", None)
        ctx.pop("token_floors", None)
    stripped_text = json.dumps(stripped)
    out: dict[str, Any] = {}
    for name, text in (("stored_counts", state), ("recount", stripped_text)):
        build, load, total = [], [], []
        for _ in range(count):
            t0 = time.perf_counter()
            built = factory.build()
            t1 = time.perf_counter()
            await built.team.load_state(json.loads(text))
            t2 = time.perf_counter()
            build.append((t1 - t0) * 1e3)
            load.append((t2 - t1) * 1e3)
            total.append((t2 - t0) * 1e3)
        out[name] = {"build_ms": summary(build), "load_state_ms": summary(load), "total_ms": summary(total)}
    return out


def run(ctx: Ctx) -> dict[str, Any]:
    cfg = ctx.cfg
    factory = StateFactory(ctx.work / "seed-state")
    state, facts = asyncio.run(factory.state_json(8))
    data = ctx.work / "restore-data"
    data.mkdir(exist_ok=True)
    ids = seed_sessions(data / "agentchat.db", state, cfg.stored_sessions)
    samples = min(cfg.restore_samples, len(ids) // max(1, cfg.repeats)) or 1
    chosen = random.sample(ids, min(len(ids), samples * cfg.repeats))
    repeats = []
    with ctx.gateway(data_dir=data) as (_, url, _):
        for r in range(cfg.repeats):
            start = stamp()
            g = asyncio.run(_samples(url, chosen[r * samples : (r + 1) * samples]))
            body = asyncio.run(fetch_last_request(ctx.model_url))
            d = summary(asyncio.run(_direct(ctx.model_url, body, samples)))
            fd = summary(g["first_delta_ms"])
            repeats.append(
                {
                    "resume_ms": summary(g["resume_ms"]),
                    "first_delta_ms": fd,
                    "resume_to_first_delta_ms": summary(g["resume_to_first_delta_ms"]),
                    "direct_ttft_ms": d,
                    "added_first_delta_p50_ms": fd["p50"] - d["p50"],
                    "added_first_delta_p99_ms": fd["p99"] - d["p99"],
                    "loadavg": start["loadavg"],
                }
            )
    inproc = asyncio.run(team_ready(factory, state, max(20, samples)))
    asyncio.run(factory.close())
    return {
        "settings": {"stored_sessions": cfg.stored_sessions, "samples_per_repeat": samples, "history": facts},
        "repeats": repeats,
        "resume_p50_ms": across(repeats, "resume_ms", "p50"),
        "resume_p99_ms": across(repeats, "resume_ms", "p99"),
        "first_delta_p50_ms": across(repeats, "first_delta_ms", "p50"),
        "first_delta_p99_ms": across(repeats, "first_delta_ms", "p99"),
        "added_first_delta_p50_ms": across(repeats, "added_first_delta_p50_ms"),
        "added_first_delta_p99_ms": across(repeats, "added_first_delta_p99_ms"),
        "team_ready_in_process": inproc,
    }
