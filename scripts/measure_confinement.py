#!/usr/bin/env python
"""What the terminal's OS confinement costs per command: the same commands bare and under bubblewrap.

    .venv/bin/python scripts/measure_confinement.py [--runs 50]

Prints p50/p90 wall time per command for ``ls -la`` and ``git status`` in a small repository, run
the way the terminal runs them (``run_argv``), bare and confined; the difference is the cost.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.tools.confinement import probe
from backend.tools.terminal import run_argv
from backend.tools.terminal_policy import build_env


async def timed(argv: list[str], work: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = await run_argv(argv, cwd=work, env=build_env(work), timeout=30, limit=1 << 20)
        times.append((time.perf_counter() - start) * 1000)
        assert result.exit_code == 0, result.output
    return times


def make_repo(tmp: str) -> str:
    """A small repository with 20 files, readable by an unprivileged user."""
    work = Path(tmp, "work")
    work.mkdir(mode=0o755)
    Path(tmp).chmod(0o755)
    for i in range(20):
        (work / f"f{i}.txt").write_text("x\n" * i)
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "add", "."], check=True)
    identity = ["-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run(["git", "-C", str(work), *identity, "commit", "-qm", "x"], check=True)
    return str(work)


async def main(work: str, runs: int) -> None:
    confinement = await probe("bwrap")
    if not confinement.usable:
        sys.exit(f"bubblewrap unusable: {confinement.reason}")
    git = ["/usr/bin/git", "-c", f"safe.directory={work}", "status", "--short"]
    for name, argv in (("ls -la", ["/usr/bin/ls", "-la"]), ("git status", git)):
        bare = await timed(argv, work, runs)
        confined = await timed(confinement.wrap(argv, work), work, runs)
        b50, c50 = statistics.median(bare), statistics.median(confined)
        b90, c90 = (statistics.quantiles(x, n=10)[-1] for x in (bare, confined))
        print(f"{name:12} bare p50 {b50:6.2f} ms p90 {b90:6.2f} | confined p50 {c50:6.2f} ms p90 {c90:6.2f} "
              f"| cost p50 +{c50 - b50:5.2f} ms")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(make_repo(tmp), parser.parse_args().runs))
