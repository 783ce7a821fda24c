"""Uploads reach the session's sandbox by copy (an exec's stdin, never a mount), against the real engine."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.docker


async def run(http: httpx.AsyncClient, sid: str, command: str) -> dict[str, Any]:
    response = await http.post(f"/v1/sessions/{sid}/sandbox/exec", json={"command": command})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def upload(http: httpx.AsyncClient, sid: str, name: str, data: bytes) -> dict[str, Any]:
    response = await http.post(f"/v1/sessions/{sid}/files", files={"file": (name, data)})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_uploads_are_copied_into_the_sandbox(http: httpx.AsyncClient, docker_client: Any) -> None:
    """Before the container exists: copied when it starts; while it runs: at once; after a reset or a restart: again."""
    sid = (await http.post("/v1/sessions", json={})).json()["session_id"]
    first = await upload(http, sid, "notes.txt", b"first upload\n")
    assert first["sandbox"] == "on_start"
    assert first["paths"] == ["/uploads/notes.txt (terminal)", "/workspace/uploads/notes.txt (sandbox)"]
    seen = await run(http, sid, "cat uploads/notes.txt; stat -c '%U %a' uploads/notes.txt")
    assert seen["exit_code"] == 0 and seen["output"] == "first upload\nsandbox 644\n", seen

    binary = bytes(range(256)) * 64
    second = await upload(http, sid, "blob.bin", binary)
    assert second["sandbox"] == "copied"
    digest = await run(http, sid, "sha256sum /workspace/uploads/blob.bin")
    assert digest["output"].split()[0] == second["sha256"]

    container = (await http.get(f"/v1/sessions/{sid}/sandbox")).json()["container"]
    mounts = docker_client.api.inspect_container(container)["Mounts"]
    assert [m for m in mounts if m.get("Type") in ("bind", "volume")] == []  # a copy, not a mount

    assert (await http.post(f"/v1/sessions/{sid}/sandbox/reset")).status_code == 200
    listing = await run(http, sid, "ls uploads")
    assert listing["output"].split() == ["blob.bin", "notes.txt"]

    fresh = (await http.get(f"/v1/sessions/{sid}/sandbox")).json()["container"]
    docker_client.api.stop(fresh, timeout=1)  # stopped (as the idle reaper does): its tmpfs is gone
    again = await run(http, sid, "cat uploads/notes.txt")
    assert again["output"] == "first upload\n", again


async def test_the_sandbox_copy_is_only_the_sessions_own(http: httpx.AsyncClient) -> None:
    """Another session's container holds none of this session's uploads."""
    mine = (await http.post("/v1/sessions", json={})).json()["session_id"]
    other = (await http.post("/v1/sessions", json={})).json()["session_id"]
    await upload(http, mine, "secret.txt", b"mine only\n")
    result = await run(http, other, "ls -A /workspace; cat /workspace/uploads/secret.txt")
    assert "mine only" not in result["output"] and result["exit_code"] != 0
