"""Event-loop lag probe, from outside: ``ping`` the gateway every few ms on its own connection, in its
own process, and report the pong round trips (a stall of the gateway's loop delays every pong behind
it). Prints one JSON line with the samples' summary when done."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from .common import now_ns, summary
from .gateway import GatewayClient


async def probe(url: str, interval: float, duration: float) -> dict[str, object]:
    client = await GatewayClient(url).connect()
    loop = asyncio.get_running_loop()
    samples: list[float] = []
    stamps: list[int] = []
    end = loop.time() + duration
    try:
        while loop.time() < end:
            sent = now_ns()
            samples.append(await client.ping() / 1e6)
            stamps.append(sent)
            await asyncio.sleep(interval)
    finally:
        await client.close()
    over = {f"over_{t}ms": sum(1 for s in samples if s > t) for t in (2, 5, 10, 50)}
    return {
        "rtt_ms": summary(samples),
        **over,
        "samples": [[t, round(s, 3)] for t, s in zip(stamps, samples, strict=True)],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--interval", type=float, default=0.005)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    result = asyncio.run(probe(args.url, args.interval, args.duration))
    print(json.dumps({"event": "listening", "result": result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
