"""Event-loop lag: how late a 100 ms timer wakes up, over the last minute (reported by /healthz).

One sleeping task; its cost is negligible. A high p99 or max means something ran synchronously on
the loop for that long (a big synchronous step, a garbage collection, a slow disk).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque

from .tasks import cancel_and_wait

INTERVAL = 0.1
WINDOW = 600  # samples: one minute


class LoopLagMonitor:
    def __init__(self, interval: float = INTERVAL) -> None:
        self._interval = interval
        self._samples: deque[float] = deque(maxlen=WINDOW)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self._interval)
            self._samples.append(max(0.0, time.perf_counter() - started - self._interval))

    def snapshot(self) -> dict[str, float | int]:
        samples = sorted(self._samples)
        if not samples:
            return {"samples": 0}
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        return {
            "samples": len(samples),
            "p50_ms": round(statistics.median(samples) * 1000, 2),
            "p99_ms": round(p99 * 1000, 2),
            "max_ms": round(samples[-1] * 1000, 2),
        }
