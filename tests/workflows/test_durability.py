"""kill -9 in the middle of a 5-node run (a real server process): after a restart the run finishes
and no completed node runs twice."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import base_env
from tests.fakes.model_server import FakeModelServer
from tests.fakes.tool_server import ToolServer
from tests.support.client import WsClient
from tests.support.process import ServerProcess

from .examples import chain

pytestmark = pytest.mark.slow


@pytest.fixture
async def tools() -> AsyncIterator[ToolServer]:
    server = ToolServer()
    await server.start()
    yield server
    await server.stop()


async def test_kill_9_mid_run_resumes_without_rerunning_completed_nodes(
    tmp_path: Path, fake_model: FakeModelServer, tools: ToolServer
) -> None:
    """Nodes 1-2 complete, node 3 is in flight at kill -9; after restart 3-5 run once more and 1-2 never again."""
    url = tools.url
    workflow = chain(
        "five-steps",
        [
            {"id": "one", "type": "assigner", "config": {"assignments": {"who": "Ada"}}},
            {"id": "two", "type": "tool", "config": {"url": f"{url}/count/two"}},
            {"id": "three", "type": "tool", "config": {"url": f"{url}/hold", "timeout_seconds": 120}},
            {"id": "four", "type": "tool", "config": {"url": f"{url}/count/four"}},
            {"id": "five", "type": "answer", "config": {"text": "{{ state.who }}: {{ nodes.four.output.body.count }}"}},
        ],
    )
    env = base_env(tmp_path, fake_model)
    proc = await asyncio.to_thread(ServerProcess(env).start)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proc.port}") as http:
            headers = {"Content-Type": "application/json"}
            assert (await http.post("/v1/workflows", json=workflow, headers=headers)).status_code == 201
            started = (await http.post("/v1/workflows/five-steps/runs", json={}, headers=headers)).json()
        run_id, session_id = started["id"], started["session_id"]
        await asyncio.wait_for(tools.held.wait(), 30)  # node three is running inside the server
        proc.kill(signal.SIGKILL)
        tools.release()

        env["PORT"] = str(proc.port)
        proc = await asyncio.to_thread(ServerProcess(env).start)
        ws = await WsClient.connect(proc.ws_url)
        await ws.send(type="resume", session_id=session_id, last_seq=0)
        await ws.recv_until(lambda e: e["type"] == "workflow_run" and e["status"] != "running", timeout=30)
        await ws.close()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proc.port}") as http:
            doc = (await http.get(f"/v1/runs/{run_id}")).json()
    finally:
        proc.stop()
    assert doc["status"] == "completed", doc
    assert doc["answer"] == "Ada: 1"
    runs = {n["node_id"]: n for n in doc["node_runs"]}
    assert len(doc["node_runs"]) == 5  # one node run per node: nothing was queued twice
    assert {k: v["status"] for k, v in runs.items()} == dict.fromkeys(runs, "completed")
    assert runs["three"]["attempts"] == 2  # interrupted, claimed again after the restart
    assert all(runs[n]["attempts"] == 1 for n in ("one", "two", "four", "five"))
    assert tools.calls == {"two": 1, "hold": 2, "four": 1}


def test_smoke_script_passes_against_a_spawned_server() -> None:
    """scripts/smoke_workflow.py --spawn (no model key) checks the platform's examples over HTTP and exits 0."""
    import subprocess
    import sys

    from tests.support.process import ROOT

    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "smoke_workflow.py"), "--spawn"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "workflow smoke test passed" in result.stdout
