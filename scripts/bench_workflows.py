#!/usr/bin/env python3
"""Workflow engine overhead: the platform's 4-node example (assigner -> if-else -> 2 templates),
run in-process on a throwaway SQLite store, one after another and all at once. No model, no server.

    .venv/bin/python scripts/bench_workflows.py [runs]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.settings import Settings  # noqa: E402
from backend.store import Store  # noqa: E402
from backend.workflows import WorkflowEngine  # noqa: E402
from tests.workflows.examples import SCORE_CHECK  # noqa: E402


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-workflows-") as data:
        store = Store(Path(data) / "bench.db")
        await store.open()
        engine = WorkflowEngine(store=store, settings=Settings.from_env({"DATA_DIR": data, "LLM_EMBEDDED": "0"}))
        await engine.start()
        try:
            await engine.definitions.save(SCORE_CHECK["name"], "", SCORE_CHECK["dsl"])
            for _ in range(5):  # warm-up
                await engine.wait((await engine.start_run("score-check")).id)
            started = time.perf_counter()
            for _ in range(n):
                await engine.wait((await engine.start_run("score-check")).id)
            each = (time.perf_counter() - started) / n
            started = time.perf_counter()
            runs = [await engine.start_run("score-check") for _ in range(n)]
            await asyncio.gather(*(engine.wait(r.id) for r in runs))
            together = time.perf_counter() - started
        finally:
            await engine.close()
            await store.close()
    print(f"one after another: {each * 1000:.1f} ms per run ({each * 250:.1f} ms per node, 4 nodes incl. 1 skipped)")
    print(f"{n} at once: {together:.2f} s, {n * 4 / together:.0f} node runs/s")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
