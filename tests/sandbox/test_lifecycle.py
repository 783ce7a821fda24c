"""Containers are per session, created lazily, stopped when idle and removed when done (real engine)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from backend.errors import SandboxUnavailableError
from backend.sandbox import SandboxManager, engine
from backend.sandbox.config import LABEL_NAMESPACE, LABEL_SESSION

from .conftest import container_exists, new_namespace, sandbox_settings

pytestmark = [pytest.mark.docker, pytest.mark.asyncio(loop_scope="module")]

REPO = Path(__file__).resolve().parents[2]


def _session_containers(client: Any, namespace: str, session_id: str) -> list[Any]:
    labels = [f"{LABEL_NAMESPACE}={namespace}", f"{LABEL_SESSION}={session_id}"]
    return list(client.containers.list(all=True, filters={"label": labels}))


async def test_status_of_an_unused_session_is_absent_and_creates_nothing(
    manager: SandboxManager, docker_client: Any
) -> None:
    """status(), stats() and logs() never create a container."""
    assert (await manager.status("ghost"))["state"] == "absent"
    assert (await manager.stats("ghost"))["state"] == "absent"
    assert await manager.logs("ghost") == ""
    assert _session_containers(docker_client, manager.namespace, "ghost") == []


async def test_two_sessions_get_two_isolated_containers(manager: SandboxManager) -> None:
    """Each session has its own container; one cannot see the other's files."""
    await manager.write_file("alice", "secret.txt", "alice only")
    await manager.exec("bob", "true")
    alice, bob = await manager.status("alice"), await manager.status("bob")
    assert alice["container"] != bob["container"]
    assert (await manager.exec("bob", "ls -A /workspace")).output == ""
    result = await manager.exec("bob", "cat /workspace/secret.txt")
    assert result.exit_code != 0
    assert "No such file" in result.output
    running = manager.health()["containers"]
    assert isinstance(running, int) and running >= 2


async def test_container_is_reused_within_a_session(manager: SandboxManager) -> None:
    """Later calls run in the same container, so files persist between calls."""
    first = (await manager.status("alice"))["container"]
    result = await manager.exec("alice", "cat secret.txt")
    assert result.output == "alice only"
    assert (await manager.status("alice"))["container"] == first


async def test_status_and_stats_describe_a_running_container(manager: SandboxManager) -> None:
    """status gives state, image, limits, uptime and a short id; stats gives memory and pids."""
    status = await manager.status("alice")
    assert status["state"] == "running"
    assert status["image"] == manager.settings.sandbox_image
    assert len(str(status["container"])) == 12
    assert isinstance(status["limits"], dict) and status["limits"]["pids"] == 64
    stats = await manager.stats("alice")
    assert stats["state"] == "running"
    assert stats["memory_limit"] == 256 * 1024 * 1024
    assert 0 < int(stats["pids"]) <= 64  # type: ignore[call-overload]


async def test_reset_gives_a_fresh_container(manager: SandboxManager, docker_client: Any) -> None:
    """reset() replaces the container: new id, empty workspace, old container gone."""
    old = await manager.status("alice")
    old_id = str(old["container"])
    new = await manager.reset("alice")
    assert new["state"] == "running" and new["container"] != old_id
    assert (await manager.exec("alice", "ls -A")).output == ""
    assert not container_exists(docker_client, old_id)


async def test_remove_deletes_the_container(manager: SandboxManager, docker_client: Any) -> None:
    """remove() (session deleted) removes the container from the engine."""
    container_id = str((await manager.status("bob"))["container"])
    await manager.remove("bob")
    assert not container_exists(docker_client, container_id)
    assert (await manager.status("bob"))["state"] == "absent"
    await manager.remove("bob")  # idempotent


async def test_idle_container_is_stopped_and_restarts_on_use(
    docker_client: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The background reaper stops a container idle for SANDBOX_IDLE_SECONDS; the next call restarts it."""
    settings = sandbox_settings(tmp_path_factory.mktemp("idle"), SANDBOX_IDLE_SECONDS="0.5")
    mgr = SandboxManager(settings, namespace=new_namespace())
    await mgr.start()
    try:
        await mgr.exec("s", "true")
        deadline = time.monotonic() + 5
        while (await mgr.status("s"))["state"] != "stopped" and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert (await mgr.status("s"))["state"] == "stopped"
        assert mgr.health()["containers"] == 0
        assert (await mgr.exec("s", "echo again")).output == "again\n"
        assert (await mgr.status("s"))["state"] == "running"
    finally:
        await mgr.close()


async def test_close_removes_every_container(
    docker_client: Any, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shutdown removes all containers of the instance; a closed manager never reconnects."""
    monkeypatch.setattr(engine, "RETRY_INTERVAL", 0.0)
    mgr = SandboxManager(sandbox_settings(tmp_path_factory.mktemp("close")), namespace=new_namespace())
    await mgr.start()
    await asyncio.gather(mgr.exec("a", "true"), mgr.exec("b", "true"))
    ids = [str((await mgr.status(s))["container"]) for s in ("a", "b")]
    await mgr.close()
    assert [container_exists(docker_client, i) for i in ids] == [False, False]
    with pytest.raises(SandboxUnavailableError):
        await mgr.exec("a", "true")


async def test_concurrent_first_calls_share_one_container(manager: SandboxManager, docker_client: Any) -> None:
    """Several calls racing on a new session create exactly one container."""
    results = await asyncio.gather(*(manager.exec("race", f"echo {i}") for i in range(4)))
    assert sorted(r.output for r in results) == ["0\n", "1\n", "2\n", "3\n"]
    assert len(_session_containers(docker_client, manager.namespace, "race")) == 1
    await manager.remove("race")


ORPHAN_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from backend.sandbox import SandboxManager, engine
    from backend.settings import Settings

    async def main():
        settings = Settings.from_env({"DATA_DIR": sys.argv[1], "LLM_EMBEDDED": "0"})
        manager = SandboxManager(settings, namespace=sys.argv[2])
        await manager.start()
        await manager.exec("doomed", "true")
        print((await manager.status("doomed"))["container"], flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


async def test_orphans_of_a_killed_server_are_removed_at_start(
    docker_client: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A server SIGKILLed with a live container: the next manager's start() removes the orphan."""
    data_dir = tmp_path_factory.mktemp("orphan")
    namespace = new_namespace()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_SCRIPT, str(data_dir), namespace],
        stdout=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout=30)
        container_id = line.decode().strip()
        assert container_id and container_exists(docker_client, container_id)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert container_exists(docker_client, container_id)  # the killed server could not clean up
    survivor = SandboxManager(sandbox_settings(data_dir), namespace=namespace)
    await survivor.start()
    try:
        assert not container_exists(docker_client, container_id)
        assert _session_containers(docker_client, namespace, "doomed") == []
    finally:
        await survivor.close()


async def test_cleanup_leaves_other_namespaces_alone(manager: SandboxManager, docker_client: Any) -> None:
    """A second server (another namespace) starting up does not touch this server's containers."""
    await manager.exec("mine", "true")
    container_id = str((await manager.status("mine"))["container"])
    other = SandboxManager(manager.settings, namespace=new_namespace())
    await other.start()
    await other.close()
    assert container_exists(docker_client, container_id)
    await manager.remove("mine")


async def test_cleanup_in_a_cluster_keeps_live_processes_containers(
    manager: SandboxManager, docker_client: Any
) -> None:
    """Same namespace (one cluster): a starting process removes a dead process's containers, not a live one's."""
    holders = {manager.instance_id, "dead-process"}

    async def live() -> set[str]:  # the processes holding session leases
        return set(holders)

    await manager.exec("alive", "true")
    alive = str((await manager.status("alive"))["container"])
    dead = SandboxManager(
        manager.settings, namespace=manager.namespace, instance_id="dead-process", live_instances=live
    )
    await dead.start()
    await dead.exec("gone", "true")
    gone = str((await dead.status("gone"))["container"])
    assert container_exists(docker_client, alive)  # a live process's start left the other's alone
    dead._boxes.clear()  # then it is killed: it never cleans up, and its leases expire
    holders.discard("dead-process")
    starting = SandboxManager(
        manager.settings, namespace=manager.namespace, instance_id="starting", live_instances=live
    )
    await starting.start()
    try:
        assert container_exists(docker_client, alive)
        assert not container_exists(docker_client, gone)
    finally:
        await starting.close()
        await dead.close()


async def test_missing_image_is_reported_as_unavailable(tmp_path_factory: pytest.TempPathFactory) -> None:
    """SANDBOX_IMAGE that does not exist: health says so and calls fail fast with the build hint."""
    settings = sandbox_settings(tmp_path_factory.mktemp("noimg"), SANDBOX_IMAGE="agentchat-no-such-image:never")
    mgr = SandboxManager(settings, namespace=new_namespace())
    await mgr.start()
    try:
        health = mgr.health()
        assert health["available"] is False
        assert "build_sandbox_image.sh" in str(health["reason"])
        with pytest.raises(SandboxUnavailableError, match="not found"):
            await mgr.exec("s", "true")
    finally:
        await mgr.close()
