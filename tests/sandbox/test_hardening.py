"""The container is hardened as configured, checked against the real engine from outside and inside."""

from __future__ import annotations

from typing import Any

import pytest

from backend.sandbox import SandboxManager, config

pytestmark = [pytest.mark.docker, pytest.mark.asyncio(loop_scope="module")]

MiB = 1024 * 1024


async def _inspect(manager: SandboxManager, docker_client: Any, session_id: str) -> dict[str, Any]:
    status = await manager.status(session_id)
    attrs: dict[str, Any] = docker_client.api.inspect_container(status["container"])
    return attrs


async def test_host_config_carries_every_limit(manager: SandboxManager, docker_client: Any) -> None:
    """Engine view: no network, read-only root, no caps, no-new-privileges, limits, init, private IPC."""
    await manager.exec("hard", "true")
    attrs = await _inspect(manager, docker_client, "hard")
    host = attrs["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert not host.get("CapAdd")
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Privileged"] is False
    assert host["PidsLimit"] == 64
    assert host["Memory"] == host["MemorySwap"] == 256 * MiB
    assert host["NanoCpus"] == 1_000_000_000
    assert host["Init"] is True
    assert host["IpcMode"] == "private"
    assert set(host["Tmpfs"]) == {"/tmp", "/workspace"}
    assert {u["Name"] for u in host["Ulimits"]} == {"nofile", "fsize", "core"}
    assert attrs["Config"]["User"] == "1000:1000"
    assert attrs["Config"]["Entrypoint"] == config.KEEPALIVE


async def test_no_host_mounts_and_no_docker_socket(manager: SandboxManager, docker_client: Any) -> None:
    """Nothing of the host is mounted; the Docker socket is absent inside."""
    attrs = await _inspect(manager, docker_client, "hard")
    assert attrs["Mounts"] == []
    assert not attrs["HostConfig"].get("Binds")
    assert not attrs["HostConfig"].get("Devices")
    result = await manager.exec("hard", "ls -l /var/run/docker.sock /run/docker.sock")
    assert result.exit_code != 0
    assert "No such file" in result.output


async def test_runs_as_non_root_without_capabilities(manager: SandboxManager) -> None:
    """Inside: uid 1000, effective capabilities 0, NoNewPrivs 1."""
    result = await manager.exec("hard", "id -u; grep -E '^(CapEff|NoNewPrivs):' /proc/self/status")
    assert result.exit_code == 0
    lines = result.output.split()
    assert lines[0] == "1000"
    assert lines[lines.index("CapEff:") + 1] == "0000000000000000"
    assert lines[lines.index("NoNewPrivs:") + 1] == "1"


async def test_outbound_connections_fail(manager: SandboxManager) -> None:
    """With SANDBOX_NETWORK=none a TCP connect to the internet fails at once."""
    code = (
        "import socket\n"
        "for host in ('1.1.1.1', '8.8.8.8'):\n"
        "    try:\n"
        "        socket.create_connection((host, 53), timeout=3).close()\n"
        "        print('CONNECTED', host)\n"
        "    except OSError as exc:\n"
        "        print('blocked', host, exc.errno)\n"
    )
    result = await manager.run_python("hard", code)
    assert result.exit_code == 0
    assert "CONNECTED" not in result.output
    assert result.output.count("blocked") == 2
    assert result.timed_out is False


async def test_root_filesystem_is_read_only_and_workspace_is_writable(manager: SandboxManager) -> None:
    """Writes to / and /etc fail; /workspace and /tmp (tmpfs) are writable by the sandbox user."""
    result = await manager.exec("hard", "touch /x")
    assert result.exit_code != 0
    assert "Read-only file system" in result.output
    result = await manager.exec("hard", "echo x >> /etc/passwd")
    assert result.exit_code != 0
    root = await manager.exec("hard", "awk '$2 == \"/\" {print $4}' /proc/mounts")
    assert root.output.split(",")[0] == "ro"
    result = await manager.exec("hard", "echo ok > /workspace/f && echo ok > /tmp/f && cat /workspace/f /tmp/f && pwd")
    assert result.output.split() == ["ok", "ok", "/workspace"]


async def test_workspace_is_a_size_limited_tmpfs(manager: SandboxManager) -> None:
    """Filling /workspace past SANDBOX_TMPFS_SIZE (32m) fails instead of filling the host disk."""
    result = await manager.exec("hard", "head -c 40000000 /dev/zero > /workspace/big; echo rc=$?; rm -f /workspace/big")
    assert "rc=0" not in result.output
    mounts = await manager.exec("hard", "grep -E ' /(workspace|tmp) ' /proc/mounts")
    assert [line.split()[2] for line in mounts.output.splitlines()] == ["tmpfs", "tmpfs"]


async def test_host_environment_is_not_visible(manager: SandboxManager, monkeypatch: pytest.MonkeyPatch) -> None:
    """A canary variable in the server's environment never reaches a sandbox created afterwards."""
    monkeypatch.setenv("AGENTCHAT_CANARY_SECRET", "canary-7f3a")
    result = await manager.exec("canary", "env; cat /proc/1/environ | tr '\\0' '\\n'")
    assert result.exit_code == 0
    assert "canary-7f3a" not in result.output
    assert "AGENTCHAT_CANARY_SECRET" not in result.output
    assert "HOME=/workspace" in result.output
    await manager.remove("canary")
