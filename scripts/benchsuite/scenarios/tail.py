"""8. The tail: from the model's ``[DONE]`` to the client's end of the turn, direct vs the gateway.

Against the fake model in its ``nagle=1`` mode (Nagle's algorithm on, every piece its own write, as
HTTP stacks without ``TCP_NODELAY`` do) and in its normal mode, on reused keep-alive connections:
the direct client times the ``data: [DONE]`` line, the gateway client its ``response`` frame (the
answer is complete: issue 19's measure) and its ``done`` frame (the turn is stored: state, usage,
trace), all against the fake model's own clock (``/bench/last-done``, CLOCK_MONOTONIC shared by the
processes).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from ..common import now_ns, summary
from ..direct import make_client, request_body
from ..gateway import GatewayClient
from ..runner import Ctx, across, stamp

TOKENS = 5


async def _last_done(http: httpx.AsyncClient, model_url: str) -> int:
    response = await http.get(model_url + "/bench/last-done")
    return int(response.json()["done_ns"])


def _directive(nagle: bool) -> str:
    return f"BENCH n={TOKENS} rate=0" + (" nagle=1" if nagle else "")


async def _direct(model_url: str, turns: int, nagle: bool) -> list[float]:
    tails = []
    async with make_client(2) as client, httpx.AsyncClient() as http:
        for _ in range(turns):
            body = request_body(TOKENS, 0)
            body["messages"][-1]["content"] = _directive(nagle)
            done_read = 0
            async with client.stream("POST", model_url + "/chat/completions", json=body) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: [DONE]"):
                        done_read = now_ns()
            tails.append((done_read - await _last_done(http, model_url)) / 1e6)
    return tails


async def _gateway(url: str, model_url: str, turns: int, nagle: bool) -> tuple[list[float], list[float]]:
    """(``[DONE]`` -> ``response``, ``[DONE]`` -> ``done``) per turn."""
    tails: list[float] = []
    responses: list[float] = []
    client = await GatewayClient(url).connect()
    try:
        async with httpx.AsyncClient() as http:
            await client.turn(1, 0)  # builds the team
            for _ in range(turns):
                result = await client.turn(TOKENS, 0, content=_directive(nagle))
                if result.error:
                    raise RuntimeError(result.error)
                done_ns = await _last_done(http, model_url)
                tails.append((result.end_ns - done_ns) / 1e6)
                responses.append((result.extra["response_ns"] - done_ns) / 1e6)
    finally:
        await client.close()
    return responses, tails


def run(ctx: Ctx) -> dict[str, Any]:
    turns = 20 if ctx.cfg.name == "full" else 8
    repeats = []
    with ctx.gateway() as (_, url, _):
        for _ in range(ctx.cfg.repeats):
            start = stamp()
            row: dict[str, Any] = {"loadavg": start["loadavg"]}
            for nagle in (True, False):
                key = "nagle" if nagle else "nodelay"
                d = summary(asyncio.run(_direct(ctx.model_url, turns, nagle)))
                responses, dones = asyncio.run(_gateway(url, ctx.model_url, turns, nagle))
                row[key] = {"direct_ms": d, "gateway_ms": summary(dones), "response_ms": summary(responses)}
            repeats.append(row)
    return {
        "settings": {"tokens": TOKENS, "turns": turns},
        "repeats": repeats,
        "nagle_response_p50_ms": across(repeats, "nagle", "response_ms", "p50"),
        "nodelay_response_p50_ms": across(repeats, "nodelay", "response_ms", "p50"),
        "nagle_response_p99_ms": across(repeats, "nagle", "response_ms", "p99"),
        "nagle_gateway_p50_ms": across(repeats, "nagle", "gateway_ms", "p50"),
        "nagle_gateway_p99_ms": across(repeats, "nagle", "gateway_ms", "p99"),
        "nagle_direct_p50_ms": across(repeats, "nagle", "direct_ms", "p50"),
        "nodelay_gateway_p50_ms": across(repeats, "nodelay", "gateway_ms", "p50"),
        "nodelay_direct_p50_ms": across(repeats, "nodelay", "direct_ms", "p50"),
    }
