"""An engine on a real SQLite store, without a chat server (no host: no events, agents or tools)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from backend.settings import Settings
from backend.store import Store
from backend.workflows import WorkflowEngine


@pytest.fixture
def wf_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**env: str) -> Settings:
        return Settings.from_env({"DATA_DIR": str(tmp_path / "data"), "LLM_EMBEDDED": "0", **env})

    return make


@pytest.fixture
async def engine(store: Store, wf_settings: Callable[..., Settings]) -> AsyncIterator[WorkflowEngine]:
    engine = WorkflowEngine(store=store, settings=wf_settings())
    await engine.start()
    yield engine
    await engine.close()


async def run_example(
    engine: WorkflowEngine, example: dict[str, Any], inputs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Save, run to the end, and describe a run."""
    await engine.definitions.save(example["name"], example.get("description"), example["dsl"])
    run = await engine.start_run(example["name"], inputs)
    await engine.wait(run.id, timeout=30)
    return await engine.describe(run.id)


def by_node(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for node_run in doc["node_runs"]:
        out.setdefault(node_run["node_id"], []).append(node_run)
    return out
