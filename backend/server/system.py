"""The machine's and this process's load (CPU, memory, load average) for ``/v1/system/status``.

Read with psutil (``/proc`` on Linux) and cached for :data:`CACHE_SECONDS`, as the sandbox
platform's status route did, so a dashboard polling many times a second costs one reading.
CPU percentages are measured between two readings (psutil's ``interval=None``): the probe takes a
first reading when it is built, so the first answer already covers the time since start-up.
"""

from __future__ import annotations

import os
import time
from typing import Any

import psutil

#: Seconds a reading is served from the cache.
CACHE_SECONDS = 2.0


class SystemProbe:
    """CPU, memory and load of the machine and of this process, cached for ``cache_seconds``."""

    def __init__(self, *, cache_seconds: float = CACHE_SECONDS) -> None:
        self.cache_seconds = cache_seconds
        self._process = psutil.Process(os.getpid())
        self._cached: tuple[float, dict[str, Any]] | None = None
        # first readings: the next cpu_percent(None) measures from here
        self._process.cpu_percent(None)
        psutil.cpu_percent(None)

    def snapshot(self) -> dict[str, Any]:
        """``{"cpu": ..., "memory": ..., "load_average": ...}``; at most one reading per cache period."""
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self.cache_seconds:
            return self._cached[1]
        data = self._read()
        self._cached = (now, data)
        return data

    def _read(self) -> dict[str, Any]:
        with self._process.oneshot():
            process_cpu = self._process.cpu_percent(None)
            rss = self._process.memory_info().rss
            threads = self._process.num_threads()
        memory = psutil.virtual_memory()
        one, five, fifteen = psutil.getloadavg()
        return {
            "cpu": {
                # percent of one core (a process using two cores fully shows 200)
                "process_percent": round(process_cpu, 1),
                "system_percent": round(psutil.cpu_percent(None), 1),
                "count": psutil.cpu_count() or 1,
            },
            "memory": {
                "process_rss_bytes": int(rss),
                "system_total_bytes": int(memory.total),
                "system_available_bytes": int(memory.available),
                "system_percent": round(float(memory.percent), 1),
            },
            "load_average": [round(one, 2), round(five, 2), round(fifteen, 2)],
            "threads": int(threads),
        }
