"""/v1/system/status, and the sandbox routes without a sandbox, against a real server (no Docker needed)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from backend.server.system import SystemProbe
from backend.settings import Settings
from tests.conftest import RunningServer
from tests.support.client import UNIT


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http, timeout=2 * UNIT) as client:
        yield client


async def test_system_status_shape_and_numbers(http: httpx.AsyncClient) -> None:
    """CPU, memory, load, sessions, teams, sandboxes, uptime and version; counts follow created sessions."""
    for _ in range(3):
        assert (await http.post("/v1/sessions", json={})).status_code == 201
    status = (await http.get("/v1/system/status")).json()
    assert status["status"] == "ok" and status["version"] and status["uptime_s"] >= 0
    assert status["memory"]["process_rss_bytes"] > 0
    assert 0 < status["memory"]["system_available_bytes"] <= status["memory"]["system_total_bytes"]
    assert status["memory"]["process_rss_bytes"] < status["memory"]["system_total_bytes"]
    assert status["cpu"]["count"] >= 1 and status["cpu"]["process_percent"] >= 0
    assert 0 <= status["cpu"]["system_percent"] <= 100
    assert len(status["load_average"]) == 3 and all(x >= 0 for x in status["load_average"])
    assert status["sessions"] == {"active": 3, "running": 0, "stored": 3, "teams": 0}
    sandboxes = status["sandboxes"]
    assert sandboxes["available"] is False and "SANDBOX_ENABLED=0" in sandboxes["reason"]
    assert sandboxes["running"] == 0 and sandboxes["free"] == 0 and sandboxes["limit"] >= 1
    alias = (await http.get("/api/system/status")).json()
    assert alias["sessions"]["stored"] == 3 and set(alias) == set(status)


def test_probe_readings_are_cached_and_sane() -> None:
    """One reading per cache period; this process's RSS is what the kernel reports for it."""
    probe = SystemProbe(cache_seconds=3600)
    first = probe.snapshot()
    assert probe.snapshot() is first
    with open(f"/proc/{os.getpid()}/status") as status:
        rss_kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    # same order of magnitude as the kernel's own figure (the process keeps allocating meanwhile)
    assert rss_kib * 1024 / 2 < first["memory"]["process_rss_bytes"] < rss_kib * 1024 * 2
    assert SystemProbe(cache_seconds=0).snapshot() is not SystemProbe(cache_seconds=0).snapshot()


async def test_sandbox_routes_without_a_sandbox_are_503(http: httpx.AsyncClient) -> None:
    """SANDBOX_ENABLED=0: every sandbox route of a real session answers 503 with the reason; unknown is still 404."""
    sid = (await http.post("/v1/sessions", json={})).json()["session_id"]
    responses = [
        await http.get(f"/v1/sessions/{sid}/sandbox"),
        await http.get(f"/v1/sessions/{sid}/sandbox/stats"),
        await http.get(f"/api/container/{sid}/logs"),
        await http.get(f"/v1/sandbox/{sid}/status"),
        await http.post(f"/v1/sessions/{sid}/sandbox/exec", json={"command": "id"}),
        await http.post(f"/api/container/{sid}/reset"),
    ]
    for response in responses:
        assert response.status_code == 503, (response.request.url, response.text)
        body = response.json()
        assert body["code"] == "sandbox_unavailable" and "SANDBOX_ENABLED=0" in body["error"]
    missing = await http.post("/v1/sessions/nosuchsession/sandbox/exec", json={"command": "id"})
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_session"


async def test_api_aliases_need_the_token(make_settings: Callable[..., Settings]) -> None:
    """With AUTH_TOKEN set, /api/... (system status, container exec) needs it exactly like /v1/..."""
    running = await RunningServer(make_settings(AUTH_TOKEN="s3cret-token-0123456789")).start()
    try:
        async with httpx.AsyncClient(base_url=running.http, timeout=2 * UNIT) as http:
            assert (await http.get("/api/system/status")).status_code == 401
            assert (await http.get("/v1/system/status")).status_code == 401
            assert (await http.post("/api/container/abc/exec", json={"command": "id"})).status_code == 401
            auth = {"Authorization": "Bearer s3cret-token-0123456789"}
            assert (await http.get("/api/system/status", headers=auth)).status_code == 200
            refused = await http.post("/api/container/abc/exec", json={"command": "id"}, headers=auth)
            assert refused.status_code == 404  # past the edge: an unknown session
    finally:
        await running.stop()
