"""Three real server processes on one PostgreSQL database, and the scripted model they share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import base_env
from tests.fakes.model_server import FakeModelServer
from tests.support.process import ServerProcess

#: Short leases so a takeover test waits seconds, not tens of seconds.
LEASE_SECONDS = "2"


class Cluster:
    def __init__(self, processes: list[ServerProcess]) -> None:
        self.processes = processes

    def url(self, index: int) -> str:
        return self.processes[index].ws_url


@pytest.fixture
async def cluster(tmp_path: Path, pg_url: str, fake_model: FakeModelServer) -> AsyncIterator[Cluster]:
    """3 server processes (instances p0, p1, p2) sharing one fresh PostgreSQL database."""
    processes = []
    for i in range(3):
        (tmp_path / f"p{i}").mkdir()
        env = base_env(tmp_path / f"p{i}", fake_model)
        env.update(DATABASE_URL=pg_url, LEASE_SECONDS=LEASE_SECONDS, INSTANCE_ID=f"p{i}", LOG_LEVEL="INFO")
        processes.append(ServerProcess(env))
    try:
        for process in processes:  # one after the other: they migrate the same database
            await asyncio.to_thread(process.start)
        yield Cluster(processes)
    finally:
        for process in processes:
            await asyncio.to_thread(process.stop)
