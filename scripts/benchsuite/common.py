"""Shared helpers: the cross-process clock, statistics, /proc readings, pinning, the run config."""

from __future__ import annotations

import os
import re
import resource
import shutil
import socket
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent
SCRIPTS = REPO / "scripts"
PYTHON = REPO / ".venv" / "bin" / "python"

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

#: One token as the fake model sends it: " t<index>@<CLOCK_MONOTONIC ns at send>".
#: Pause before each measured resume or message of the TTFT and restore scenarios. After a turn the
#: gateway folds old turns into the summary (a summarizer call, a few ms of CPU): a person's next message
#: comes seconds later, so back-to-back samples would measure that fold, not the restore or the reply.
THINK_TIME_S = 0.1

TOKEN_RE = re.compile(r"t(\d+)@(\d+)")

_clock_gettime_ns = time.clock_gettime_ns
_MONOTONIC = time.CLOCK_MONOTONIC


def now_ns() -> int:
    """CLOCK_MONOTONIC in ns: the same clock in every process of this machine."""
    return _clock_gettime_ns(_MONOTONIC)


# --- statistics ---------------------------------------------------------------------------------------
def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest-rank on sorted data; nan for no data."""
    if not values:
        return float("nan")
    data = sorted(values)
    k = max(0, min(len(data) - 1, round(q / 100.0 * (len(data) - 1))))
    return float(data[k])


def summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "min": float(min(values)),
        "p50": pct(values, 50),
        "p90": pct(values, 90),
        "p99": pct(values, 99),
        "max": float(max(values)),
        "mean": float(statistics.fmean(values)),
    }


def spread(values: Iterable[float]) -> dict[str, float]:
    """min / median / max over repeats (the numbers every table shows)."""
    data = [v for v in values if v == v]  # drop nan
    if not data:
        return {"min": float("nan"), "median": float("nan"), "max": float("nan"), "n": 0}
    return {"min": min(data), "median": statistics.median(data), "max": max(data), "n": len(data)}


# --- /proc ----------------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its reaped children are not counted)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    import platform

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "mem_bytes": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


# --- pinning and limits --------------------------------------------------------------------------------
@dataclass
class Pinning:
    """Gateway on one core, everything else (fake model, clients, probes) on the other."""

    enabled: bool
    method: str  # "taskset" | "sched_setaffinity" | "none"
    gateway_core: int = 0
    other_core: int = 1

    def prefix(self, role: str) -> list[str]:
        core = self.gateway_core if role == "gateway" else self.other_core
        if self.enabled and self.method == "taskset":
            return ["taskset", "-c", str(core)]
        return []

    def pin_self(self) -> None:
        if self.enabled and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {self.other_core})

    def describe(self) -> str:
        if not self.enabled:
            return "not pinned (fewer than 2 cores, or --no-pin)"
        return (
            f"gateway on core {self.gateway_core}; fake model, clients and probes on core {self.other_core} "
            f"(via {self.method})"
        )


def detect_pinning(want: bool) -> Pinning:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not want or cores < 2:
        return Pinning(False, "none")
    if shutil.which("taskset"):
        return Pinning(True, "taskset")
    if hasattr(os, "sched_setaffinity"):
        return Pinning(True, "sched_setaffinity")
    return Pinning(False, "none")


def raise_fd_limit(want: int = 65536) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(want, hard) if hard != resource.RLIM_INFINITY else want
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- configuration ---------------------------------------------------------------------------------------
@dataclass
class Config:
    """Sizes of every scenario. ``full()`` is the product issue's settings, ``quick()`` a short run."""

    name: str = "full"
    repeats: int = 3
    calib_round_trips: int = 2000
    # 1. added latency per token
    latency_tokens: int = 600
    latency_rate: float = 50.0
    # 2. time to first token (each sample is a different restored session)
    ttft_samples: int = 40
    ttft_history_messages: int = 24
    # 3. saturation
    sat_sessions: int = 100
    sat_tokens: int = 1000
    # 4. paced load: (sessions, tokens/s) pairs, tokens per stream
    paced: list[tuple[int, float]] = field(default_factory=lambda: [(100, 50.0), (500, 20.0)])
    paced_tokens: int = 300
    # 5. idle sessions
    idle_sessions: int = 5000
    idle_team_sessions: int = 1000  # of those, how many run one short turn (team restored in memory)
    idle_history_messages: int = 40  # about 4k tokens
    # 6. cold restore
    stored_sessions: int = 2000
    restore_samples: int = 200
    # 7. context step + loop lag
    context_sizes: list[int] = field(default_factory=lambda: [40, 160, 320, 640])
    context_repeats: int = 30
    lag_sessions: int = 100
    lag_tokens: int = 75
    lag_rate: float = 5.0  # 500 tok/s in all: well below the gateway's saturation, so lag means stalls
    # 8. cluster: PostgreSQL vs SQLite, 1/2/3 processes, takeover
    cluster_sessions: int = 60
    cluster_tokens: int = 500
    # burst: this many first turns released at once (half resume a stored session, so the team is
    # restored, half start a new one, so it is built), while other sessions stream paced
    burst_turns: int = 100
    burst_background: int = 20
    burst_background_rate: float = 10.0
    burst_background_tokens: int = 80  # 8 s at 10 tok/s: the burst is released 2 s in (burst_lead_s)
    burst_lead_s: float = 2.0

    @classmethod
    def full(cls) -> Config:
        return cls()

    @classmethod
    def quick(cls) -> Config:
        return cls(
            name="quick",
            calib_round_trips=500,
            latency_tokens=150,
            ttft_samples=12,
            sat_sessions=40,
            sat_tokens=300,
            paced=[(20, 50.0), (50, 20.0)],
            paced_tokens=60,
            idle_sessions=500,
            idle_team_sessions=100,
            stored_sessions=300,
            restore_samples=40,
            context_repeats=5,
            lag_sessions=30,
            lag_tokens=40,
            cluster_sessions=30,
            cluster_tokens=200,
            burst_turns=40,
            burst_background=10,
            burst_background_tokens=60,
        )

    def shrink(self, *, sessions: int | None, tokens: int | None, repeats: int | None) -> None:
        """Command-line caps (the smoke test runs with 2 sessions and a few tokens)."""
        if repeats is not None:
            self.repeats = repeats
        if tokens is not None:
            self.latency_tokens = self.sat_tokens = self.paced_tokens = self.lag_tokens = tokens
            self.cluster_tokens = tokens
        if sessions is not None:
            self.sat_sessions = min(self.sat_sessions, sessions)
            self.paced = [(min(n, sessions), r) for n, r in self.paced]
            self.idle_sessions = min(self.idle_sessions, sessions)
            self.idle_team_sessions = min(self.idle_team_sessions, sessions)
            self.stored_sessions = min(self.stored_sessions, max(sessions, 2))
            self.restore_samples = min(self.restore_samples, sessions)
            self.ttft_samples = min(self.ttft_samples, sessions)
            self.lag_sessions = min(self.lag_sessions, sessions)
            self.cluster_sessions = min(self.cluster_sessions, max(sessions, 3))
            self.burst_turns = min(self.burst_turns, max(sessions, 2))
            self.burst_background = min(self.burst_background, sessions)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
