"""Calibration: a plain websockets echo round trip on loopback, and a fixed pure-Python CPU loop.

The echo server runs in its own process on the gateway's core (``python -m benchsuite.calibration
--serve``), the client here, so the numbers compare with the gateway's path across the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from .common import Pinning, now_ns, summary
from .procs import start_helper

PAYLOAD = (
    '{"type":"delta","session_id":"0123456789abcdef0123456789abcdef","seq":42,"ts":1.0,'
    '"agent":"assistant","content":" t1@1"}'
)


async def _echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def _serve() -> None:
    async with serve(_echo, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(json.dumps({"event": "listening", "port": port}), flush=True)
        await server.serve_forever()


def cpu_loop_ms() -> float:
    """Best of 5 runs of a fixed pure-Python loop (a day-to-day CPU speed yardstick)."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i % 7
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


async def echo_round_trips(url: str, count: int) -> dict[str, Any]:
    samples: list[float] = []
    async with connect(url, compression=None, max_size=None) as ws:
        for _ in range(50):  # warm-up
            await ws.send(PAYLOAD)
            await ws.recv()
        started = time.perf_counter()
        for _ in range(count):
            t0 = now_ns()
            await ws.send(PAYLOAD)
            await ws.recv()
            samples.append((now_ns() - t0) / 1e3)
        elapsed = time.perf_counter() - started
    return {"rtt_us": summary(samples), "round_trips_per_s": count / elapsed}


def run(pinning: Pinning, log_dir: Path, count: int) -> dict[str, Any]:
    # the echo server takes the gateway's core
    proc = start_helper("benchsuite.calibration", ["--serve"], pinning, log_dir, "echo")
    if pinning.enabled:
        import os

        os.sched_setaffinity(proc.pid, {pinning.gateway_core})
    try:
        port = proc.wait_ready(30)["port"]
        result = asyncio.run(echo_round_trips(f"ws://127.0.0.1:{port}/", count))
    finally:
        proc.stop()
    result["cpu_loop_ms"] = cpu_loop_ms()
    result["payload_bytes"] = len(PAYLOAD)
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", action="store_true")
    args = parser.parse_args()
    if args.serve:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
