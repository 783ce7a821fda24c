"""The sandbox through the real server: a scripted turn runs Python, clients inspect and reset it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from backend.settings import Settings
from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import UNIT, of_type

from .conftest import TEST_SANDBOX_ENV, container_exists

pytestmark = pytest.mark.docker


async def test_scripted_turn_runs_python_in_the_sandbox(
    docker_client: Any, make_settings: Callable[..., Settings], fake_model: FakeModelServer
) -> None:
    """The model calls sandbox_run_python; the tool_result carries the program's output; delete removes it."""
    running = await RunningServer(make_settings(SANDBOX_ENABLED="1", **TEST_SANDBOX_ENV)).start()
    ws = await running.client()
    try:
        fake_model.enqueue(
            Reply.of_tool_call("sandbox_run_python", {"code": "import os\nprint(6 * 7, os.getuid())"}),
            Reply.of_text("It printed 42."),
        )
        events = await ws.turn("compute 6*7 in the sandbox", timeout=6 * UNIT)
        result = of_type(events, "tool_result")[0]
        assert result["is_error"] is False and "42 1000" in result["content"] and "[exit 0" in result["content"]
        sid = events[0]["session_id"]

        await ws.send(type="sandbox_status", session_id=sid)
        status = (await ws.recv_until("sandbox_status"))[-1]
        assert status["state"] == "running" and status["image"]
        async with httpx.AsyncClient() as http:
            over_http = (await http.get(f"{running.http}/v1/sandbox/{sid}/status")).json()
        assert over_http["state"] == "running"
        container_id = status["container"]
        assert container_exists(docker_client, container_id)

        await ws.send(type="sandbox_reset", session_id=sid)
        fresh = (await ws.recv_until("sandbox_reset", timeout=4 * UNIT))[-1]
        assert fresh["container"] != container_id

        await ws.send(type="delete", session_id=sid)
        await ws.recv_until("deleted", timeout=4 * UNIT)
        assert not container_exists(docker_client, fresh["container"])
    finally:
        await ws.close()
        await running.stop()


async def test_terminal_backend_sandbox_runs_commands_in_the_container(
    docker_client: Any, make_settings: Callable[..., Settings]
) -> None:
    """TERMINAL_BACKEND=sandbox: `!pwd` runs inside the container, not on the host."""
    running = await RunningServer(
        make_settings(SANDBOX_ENABLED="1", TERMINAL_BACKEND="sandbox", **TEST_SANDBOX_ENV)
    ).start()
    ws = await running.client()
    try:
        events = await ws.turn("!pwd", timeout=6 * UNIT)
        result = of_type(events, "tool_result")[0]
        assert "/workspace" in result["content"], result
    finally:
        await ws.close()
        await running.stop()
