"""Without a usable engine the manager answers fast and clearly, and nothing hangs (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.errors import SandboxUnavailableError, ToolError
from backend.sandbox import SandboxManager
from backend.tools import sandbox_tools
from backend.tools.registry import ToolDeps

from .conftest import sandbox_settings
from .fakes import NullEvents

BOGUS_HOSTS = ["unix:///nonexistent/docker.sock", "tcp://127.0.0.1:1"]


@pytest.mark.parametrize("host", BOGUS_HOSTS)
async def test_bad_docker_host_fails_fast_and_health_says_why(tmp_path: Path, host: str) -> None:
    """start() tolerates a dead DOCKER_HOST; calls raise SandboxUnavailableError in well under 2 s."""
    manager = SandboxManager(sandbox_settings(tmp_path, DOCKER_HOST=host))
    await manager.start()
    health = manager.health()
    assert health["available"] is False
    assert host in str(health["reason"])
    with pytest.raises(SandboxUnavailableError, match=r"^sandbox unavailable: docker engine not reachable"):
        await manager.exec("s1", "echo hi")
    with pytest.raises(SandboxUnavailableError):
        await manager.write_file("s1", "a.txt", "x")
    assert (await manager.status("s1"))["state"] == "absent"
    assert await manager.logs("s1") == ""
    await manager.remove("s1")
    await manager.close()


async def test_disabled_sandbox_reports_disabled(tmp_path: Path) -> None:
    """SANDBOX_ENABLED=0: health and every call say the sandbox is disabled."""
    manager = SandboxManager(sandbox_settings(tmp_path, SANDBOX_ENABLED="0"))
    await manager.start()
    assert manager.health()["available"] is False
    assert "disabled" in str(manager.health()["reason"])
    with pytest.raises(SandboxUnavailableError, match="disabled"):
        await manager.run_python("s1", "print(1)")
    await manager.close()


async def test_root_user_setting_makes_the_sandbox_unavailable(tmp_path: Path) -> None:
    """SANDBOX_USER=0 is refused at start-up instead of creating a root container."""
    manager = SandboxManager(sandbox_settings(tmp_path, SANDBOX_USER="0:0"))
    await manager.start()
    assert "root" in str(manager.health()["reason"])
    await manager.close()


async def test_tools_without_a_sandbox_say_not_configured(tmp_path: Path) -> None:
    """deps.sandbox=None: every sandbox tool raises ToolError 'sandbox unavailable: not configured'."""
    deps = ToolDeps(session_id="s1", settings=sandbox_settings(tmp_path), store=None, events=NullEvents())
    calls = [
        sandbox_tools.sandbox_exec(deps, "ls"),
        sandbox_tools.sandbox_run_python(deps, "print(1)"),
        sandbox_tools.sandbox_write_file(deps, "a", "b"),
        sandbox_tools.sandbox_read_file(deps, "a"),
    ]
    for call in calls:
        with pytest.raises(ToolError, match=r"^sandbox unavailable: not configured$"):
            await call


async def test_tools_with_a_dead_engine_pass_the_reason_on(tmp_path: Path) -> None:
    """With a manager that cannot reach the engine, the tool error carries the manager's reason."""
    manager = SandboxManager(sandbox_settings(tmp_path, DOCKER_HOST=BOGUS_HOSTS[1]))
    await manager.start()
    deps = ToolDeps(
        session_id="s1", settings=sandbox_settings(tmp_path), store=None, events=NullEvents(), sandbox=manager
    )
    with pytest.raises(ToolError, match="connection refused"):
        await sandbox_tools.sandbox_run_python(deps, "print(6*7)")
    await manager.close()
