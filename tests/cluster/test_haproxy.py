"""Through HAProxy (round robin, no stickiness): 200 clients, 5 turns each, over 3 processes."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster.conftest import Cluster
from tests.conftest import require
from tests.support.client import UNIT, WsClient
from tests.support.postgres import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 200
TURNS = 5


@pytest.fixture
async def balancer(cluster: Cluster, tmp_path: Path) -> AsyncIterator[str]:
    """HAProxy from deploy/haproxy.cfg in front of the cluster; its WebSocket URL."""
    if shutil.which("haproxy") is None:
        require("REQUIRE_HAPROXY", "HAProxy is not installed (apt-get install haproxy)")
    port = free_port()
    config = (ROOT / "deploy" / "haproxy.cfg").read_text().replace('"${BIND}"', f"127.0.0.1:{port}")
    config += "".join(f"    server {p.env['INSTANCE_ID']} 127.0.0.1:{p.port} check\n" for p in cluster.processes)
    path = tmp_path / "haproxy.cfg"
    path.write_text(config)
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        seen: set[str] = set()
        async with httpx.AsyncClient() as http:
            for _ in range(200):  # until HAProxy has marked all three up (a condition, polled)
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):  # not up yet
                    seen.add((await http.get(f"http://127.0.0.1:{port}/healthz")).json()["instance"])
                if len(seen) == len(cluster.processes):
                    break
                await asyncio.sleep(0.1)
        assert len(seen) == len(cluster.processes), seen
        yield f"ws://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


def timeline(events: list[dict[str, Any]]) -> list[int]:
    return [e["seq"] for e in events if e.get("seq") is not None]


async def one_client(url: str, index: int) -> tuple[list[int], str, list[str]]:
    """Turn 1 creates a session; turns 2..5 each come on a fresh connection (any process)."""
    seqs: list[int] = []
    instances: list[str] = []
    ws = await WsClient.connect(url)
    events = await ws.turn(f"client {index} turn 0", timeout=12 * UNIT)
    sid = events[-1]["session_id"]
    seqs += timeline(events)
    instances.append(events[-1]["instance"])
    await ws.close()
    for turn in range(1, TURNS):
        ws = await WsClient.connect(url)
        await ws.send(type="resume", session_id=sid, last_seq=seqs[-1])
        seqs += timeline(await ws.recv_until("resumed", timeout=12 * UNIT))
        events = await ws.turn(f"client {index} turn {turn}", timeout=12 * UNIT, session_id=sid)
        seqs += timeline(events)
        instances.append(events[-1]["instance"])
        await ws.close()
    return seqs, sid, instances


async def test_200_clients_5_turns_through_haproxy_lose_and_duplicate_nothing(balancer: str) -> None:
    """Every client sees its session's seqs 1..N exactly once, and a resume from 0 elsewhere shows the same."""
    results = await asyncio.gather(*(one_client(balancer, i) for i in range(CLIENTS)))
    for seqs, sid, _ in results:
        assert seqs == list(range(1, len(seqs) + 1)), (sid, seqs)
    sample = [results[i] for i in range(0, CLIENTS, 20)]
    for seqs, sid, _ in sample:
        ws = await WsClient.connect(balancer)
        await ws.send(type="resume", session_id=sid, last_seq=0)
        replay = timeline(await ws.recv_until("resumed"))
        # the same events (a background summary may have followed the client's last turn)
        assert replay[: len(seqs)] == seqs
        assert replay == list(range(1, len(replay) + 1))
        await ws.close()
    done_by = {instance for _, _, instances in results for instance in instances}
    assert done_by == {"p0", "p1", "p2"}  # turns ran on every process
