"""A session's sandbox over HTTP in a cluster: it lives with the session's owner, never twice."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.sandbox.config import LABEL_SESSION
from tests.conftest import base_env
from tests.fakes.model_server import FakeModelServer
from tests.support.client import UNIT
from tests.support.process import ServerProcess

from .conftest import TEST_SANDBOX_ENV

pytestmark = [pytest.mark.docker, pytest.mark.postgres]


@pytest.fixture
async def two_processes(
    tmp_path: Path, pg_url: str, fake_model: FakeModelServer, docker_client: Any
) -> AsyncIterator[list[ServerProcess]]:
    """Two server processes with the sandbox enabled, sharing one fresh PostgreSQL database."""
    processes = []
    for i in range(2):
        (tmp_path / f"p{i}").mkdir()
        env = base_env(tmp_path / f"p{i}", fake_model)
        env.update(TEST_SANDBOX_ENV)
        env.update(DATABASE_URL=pg_url, INSTANCE_ID=f"p{i}", SANDBOX_ENABLED="1", LEASE_SECONDS="5")
        env.update({name: os.environ[name] for name in ("DOCKER_HOST", "SANDBOX_IMAGE") if os.environ.get(name)})
        processes.append(ServerProcess(env))
    try:
        for process in processes:  # one after the other: they migrate the same database
            await asyncio.to_thread(process.start)
        yield processes
    finally:
        for process in processes:
            await asyncio.to_thread(process.stop)


async def test_a_follower_refuses_instead_of_starting_a_second_container(
    two_processes: list[ServerProcess], docker_client: Any
) -> None:
    """exec through the owner runs; through the other process it is 409 session_elsewhere, and one container exists."""
    owner, follower = (f"http://127.0.0.1:{p.port}" for p in two_processes)
    async with httpx.AsyncClient(timeout=8 * UNIT) as http:
        sid = (await http.post(f"{owner}/v1/sessions", json={})).json()["session_id"]
        ran = await http.post(f"{owner}/v1/sessions/{sid}/sandbox/exec", json={"command": "echo owner > f"})
        assert ran.status_code == 200 and ran.json()["exit_code"] == 0, ran.text
        for response in (
            await http.post(f"{follower}/v1/sessions/{sid}/sandbox/exec", json={"command": "cat f"}),
            await http.post(f"{follower}/api/container/{sid}/reset"),
            await http.get(f"{follower}/v1/sessions/{sid}/sandbox"),
        ):
            assert response.status_code == 409, response.text
            assert response.json()["code"] == "session_elsewhere"
        boxes = docker_client.containers.list(all=True, filters={"label": f"{LABEL_SESSION}={sid}"})
        assert len(boxes) == 1
        again = await http.post(f"{owner}/v1/sessions/{sid}/sandbox/exec", json={"command": "cat f"})
        assert again.json()["output"] == "owner\n"
