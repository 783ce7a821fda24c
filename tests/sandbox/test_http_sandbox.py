"""The sandbox over HTTP (/v1/sessions/{id}/sandbox..., /api/container/...) against the real engine."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from backend.sandbox.config import LABEL_SESSION

from .conftest import container_exists

pytestmark = pytest.mark.docker


async def new_session(http: httpx.AsyncClient) -> str:
    response = await http.post("/v1/sessions", json={})
    assert response.status_code == 201, response.text
    return str(response.json()["session_id"])


async def run(http: httpx.AsyncClient, sid: str, command: Any, **body: Any) -> dict[str, Any]:
    response = await http.post(f"/v1/sessions/{sid}/sandbox/exec", json={"command": command, **body})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_exec_status_stats_and_logs(http: httpx.AsyncClient, docker_client: Any) -> None:
    """exec returns exit codes and output (string and argv forms), a timeout is reported; status/stats/logs shapes."""
    sid = await new_session(http)
    before = (await http.get(f"/v1/sessions/{sid}/sandbox")).json()
    assert before["state"] == "absent" and before["session_id"] == sid and before["limits"]["network"] == "none"

    hi = await run(http, sid, "echo hi")
    assert hi["exit_code"] == 0 and hi["output"] == "hi\n"
    assert hi["truncated"] is False and hi["timed_out"] is False and hi["session_id"] == sid
    failing = await run(http, sid, "echo oops >&2; exit 7")
    assert failing["exit_code"] == 7 and "oops" in failing["output"]
    argv = await run(http, sid, ["sh", "-c", 'echo "$0 $1"; exit 3', "a b", "c;d"])
    assert argv["exit_code"] == 3 and argv["output"] == "a b c;d\n"
    whoami = await run(http, sid, "id -u; pwd")
    assert whoami["output"].split() == ["1000", "/workspace"]
    slow = await run(http, sid, "echo started; sleep 30", timeout=1)
    assert slow["timed_out"] is True and slow["exit_code"] != 0 and "started" in slow["output"]

    status = (await http.get(f"/v1/sessions/{sid}/sandbox")).json()
    assert status["state"] == "running" and status["available"] is True and status["image"]
    assert container_exists(docker_client, status["container"])
    stats = (await http.get(f"/v1/sessions/{sid}/sandbox/stats")).json()
    assert stats["state"] == "running" and stats["memory_limit"] > 0 and stats["pids"] >= 1
    assert set(stats) >= {"cpu_percent", "memory_usage", "memory_limit", "pids"}
    logs = (await http.get(f"/v1/sessions/{sid}/sandbox/logs", params={"tail": "5"})).json()
    assert logs["session_id"] == sid and isinstance(logs["logs"], str)


async def test_reset_gives_a_fresh_container(http: httpx.AsyncClient, docker_client: Any) -> None:
    """A file written before a reset is gone after it; the old container is removed."""
    sid = await new_session(http)
    assert (await run(http, sid, "echo kept > marker && cat marker"))["output"] == "kept\n"
    old = (await http.get(f"/v1/sessions/{sid}/sandbox")).json()["container"]
    reset = await http.post(f"/v1/sessions/{sid}/sandbox/reset")
    assert reset.status_code == 200, reset.text
    fresh = reset.json()
    assert fresh["state"] == "running" and fresh["container"] != old
    assert not container_exists(docker_client, old)
    gone = await run(http, sid, "test -e marker")
    assert gone["exit_code"] == 1


async def test_the_sandbox_platform_aliases(http: httpx.AsyncClient) -> None:
    """/api/container/{id}/exec|reset (POST), status|stats|logs (GET) and /v1/sandbox/{id}/status reach the same box."""
    sid = await new_session(http)
    exec_ = await http.post(f"/api/container/{sid}/exec", json={"command": "echo via-alias > f; cat f"})
    assert exec_.status_code == 200 and exec_.json()["output"] == "via-alias\n"
    status = (await http.get(f"/api/container/{sid}/status")).json()
    native = (await http.get(f"/v1/sessions/{sid}/sandbox")).json()
    old = (await http.get(f"/v1/sandbox/{sid}/status")).json()
    assert status["state"] == native["state"] == old["state"] == "running"
    assert status["container"] == native["container"] == old["container"]
    assert (await http.get(f"/api/container/{sid}/stats")).json()["state"] == "running"
    assert "logs" in (await http.get(f"/api/container/{sid}/logs", params={"tail": "10"})).json()
    reset = await http.post(f"/api/container/{sid}/reset")
    assert reset.status_code == 200 and reset.json()["container"] != status["container"]
    again = await http.post(f"/api/container/{sid}/exec", json={"command": ["cat", "f"]})
    assert again.json()["exit_code"] != 0


async def test_hostile_sandbox_requests_get_clear_4xx(http: httpx.AsyncClient) -> None:
    """Huge bodies, non-objects, wrong types, unknown sessions, a foreign Origin: each a clear 4xx, server unharmed."""
    sid = await new_session(http)
    url = f"/v1/sessions/{sid}/sandbox/exec"
    json_type = {"Content-Type": "application/json"}
    big = b'{"command":"' + b"x" * (10 * 1024 * 1024) + b'"}'
    cases: list[tuple[int, httpx.Response]] = [
        (413, await http.post(url, content=big, headers=json_type)),
        (413, await http.post(url, json={"command": "echo " + "x" * 70_000})),
        (413, await http.post(url, json={"command": ["true"] * 2000})),
        (400, await http.post(url, json=["echo", "hi"])),
        (400, await http.post(url, json="echo hi")),
        (400, await http.post(url, content=b"{nope", headers=json_type)),
        (400, await http.post(url, json={"command": 42})),
        (400, await http.post(url, json={"command": ["echo", 1]})),
        (400, await http.post(url, json={"command": {"sh": "echo"}})),
        (400, await http.post(url, json={})),
        (400, await http.post(url, json={"command": "   "})),
        (400, await http.post(url, json={"command": []})),
        (400, await http.post(url, json={"command": "echo \x00"})),
        (400, await http.post(url, json={"command": "true", "timeout": -1})),
        (400, await http.post(url, json={"command": "true", "timeout": "5"})),
        (400, await http.post(url, json={"command": "true", "timeout": 10_000})),
        (415, await http.post(url, content=b'{"command":"echo hi"}')),
        (415, await http.post(url, content=b"command=id", headers={"Content-Type": "text/plain"})),
        (403, await http.post(url, json={"command": "id"}, headers={"Origin": "https://evil.example"})),
        (
            403,
            await http.post(f"/api/container/{sid}/exec", json={"command": "id"}, headers={"Origin": "http://x.test"}),
        ),
        (403, await http.post(url, json={"command": "id"}, headers={"Sec-Fetch-Site": "cross-site"})),
        (404, await http.post("/v1/sessions/doesnotexist/sandbox/exec", json={"command": "id"})),
        (404, await http.post("/api/container/doesnotexist/exec", json={"command": "id"})),
        (404, await http.get("/v1/sessions/doesnotexist/sandbox")),
        (404, await http.get("/v1/sandbox/doesnotexist/status")),
        (404, await http.get("/v1/sessions/" + "a" * 200 + "/sandbox/stats")),
        (404, await http.get("/api/container/..%2F..%2Fetc/logs")),
        (404, await http.get(f"/v1/sessions/{sid}/sandbox/nonsense")),
        (404, await http.post(f"/v1/sessions/{sid}/sandbox/nonsense", json={})),
        (400, await http.get(f"/v1/sessions/{sid}/sandbox/logs", params={"tail": "-1"})),
        (400, await http.get(f"/v1/sessions/{sid}/sandbox/logs", params={"tail": "99999999999"})),
    ]
    for expected, response in cases:
        assert response.status_code == expected, (response.request.method, response.request.url, response.text)
        assert "error" in response.json()
    refused = await http.post(url, json={"command": "id"}, headers={"Origin": "https://evil.example"})
    assert refused.json()["code"] == "bad_origin"
    # nothing ran: the refused and malformed requests created no container
    assert (await http.get(f"/v1/sessions/{sid}/sandbox")).json()["state"] == "absent"
    other = await new_session(http)
    assert (await run(http, other, "echo still-serving"))["output"] == "still-serving\n"
    assert (await run(http, sid, "echo fine"))["exit_code"] == 0
    assert (await http.get("/healthz")).status_code == 200


def session_containers(docker_client: Any, sid: str) -> list[Any]:
    return list(docker_client.containers.list(all=True, filters={"label": f"{LABEL_SESSION}={sid}"}))


async def test_deleting_a_session_while_its_exec_runs_leaves_no_container(
    http: httpx.AsyncClient, docker_client: Any
) -> None:
    """A DELETE racing an HTTP exec: the exec ends, and no container of the deleted session is left."""
    sid = await new_session(http)
    running = asyncio.create_task(http.post(f"/v1/sessions/{sid}/sandbox/exec", json={"command": "sleep 3"}))
    while (await http.get(f"/v1/sessions/{sid}/sandbox")).json()["state"] != "running":
        await asyncio.sleep(0.05)  # polling for the container to exist, not timing the test
    assert (await http.delete(f"/v1/sessions/{sid}")).status_code == 200
    answer = await running
    assert answer.status_code in (200, 404, 503), answer.text
    assert session_containers(docker_client, sid) == []
    assert (await http.get(f"/v1/sessions/{sid}/sandbox")).status_code == 404
