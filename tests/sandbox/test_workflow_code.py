"""Workflow code nodes in the real sandbox container: the platform's example, forks and floods."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from backend.sandbox import SandboxManager
from backend.store import Store
from backend.workflows import WorkflowEngine
from tests.workflows.examples import CODE_SUM, chain

pytestmark = [pytest.mark.docker, pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture
async def engine(manager: SandboxManager, tmp_path: Path) -> AsyncIterator[WorkflowEngine]:
    store = Store(tmp_path / "wf.db")
    await store.open()
    engine = WorkflowEngine(store=store, settings=manager.settings, sandbox=manager)
    await engine.start()
    yield engine
    await engine.close()
    await store.close()


async def _run(engine: WorkflowEngine, example: dict[str, Any]) -> dict[str, Any]:
    await engine.definitions.save(example["name"], example.get("description"), example["dsl"])
    run = await engine.start_run(example["name"], session_id="workflow-code")
    await engine.wait(run.id, timeout=60)
    return await engine.describe(run.id)


def _code(name: str, source: str) -> dict[str, Any]:
    return chain(name, [{"id": "c", "type": "code", "config": {"code": source, "timeout_seconds": 5}}])


async def test_platform_code_example(engine: WorkflowEngine) -> None:
    """Summing [1, 2, 3, 4] gives result_json {"total": 10, "count": 4} and output_text 'total=10'."""
    doc = await _run(engine, CODE_SUM)
    assert doc["status"] == "completed", doc
    node = doc["node_runs"][0]
    assert node["output_json"]["result_json"] == {"total": 10, "count": 4}
    assert node["output_text"] == "total=10"
    artifacts = await engine.repo.artifacts(doc["id"])
    assert {"kind": "json", "name": "result.json", "content": {"total": 10, "count": 4}}.items() <= artifacts[0].items()


async def test_code_runs_in_the_container_not_the_host(engine: WorkflowEngine) -> None:
    """The code sees the container's user and no network; a file it writes is not on the host."""
    source = (
        "import os, socket\n"
        "open('/tmp/wf-marker', 'w').write('x')\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 53), timeout=2)\n"
        "    net = 'up'\n"
        "except OSError:\n"
        "    net = 'down'\n"
        "result = {'uid': os.getuid(), 'net': net}\n"
    )
    doc = await _run(engine, _code("where", source))
    assert doc["status"] == "completed", doc
    assert doc["node_runs"][0]["output_json"]["result_json"] == {"uid": 1000, "net": "down"}
    assert not Path("/tmp/wf-marker").exists()


async def test_fork_bomb_is_a_node_error(engine: WorkflowEngine) -> None:
    """A code node that forks without end fails with a clear error (pids limit), the container survives."""
    doc = await _run(engine, _code("forker", "import os\nwhile True:\n    os.fork()\n"))
    assert doc["status"] == "failed"
    error = doc["node_runs"][0]["error"]
    assert "raised BlockingIOError" in error or "killed" in error or "without a result" in error, error
    again = await _run(engine, _code("after-fork", "result = 1"))
    assert again["status"] == "completed", again


async def test_print_flood_is_a_node_error(engine: WorkflowEngine) -> None:
    """Printing without end is stopped by the capture cap and reported; writing to fd 1 directly is cut off."""
    doc = await _run(engine, _code("printer", "while True:\n    print('x' * 1000)\n"))
    assert doc["status"] == "failed"
    assert "print output flood" in doc["node_runs"][0]["error"]
    raw = await _run(engine, _code("raw", "import os\nwhile True:\n    os.write(1, b'y' * 65536)\n"))
    assert raw["status"] == "failed"
    assert "flooded its output" in raw["node_runs"][0]["error"] or "killed" in raw["node_runs"][0]["error"]
