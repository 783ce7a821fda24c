"""Layer 2: the OS confinement alone (bubblewrap), with no help from the argument policy.

The confined runner is called directly with commands the policy would refuse: reading /etc/shadow,
another process's environment, /root, the network, killing the server. All fail inside.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from backend.settings import Settings
from backend.tools import terminal
from backend.tools.confinement import Confinement, probe
from backend.tools.terminal_policy import CommandPlan
from tests.conftest import require

CANARY = "CONFINEMENT_CANARY_7f3a"


@pytest_asyncio.fixture
async def confined() -> AsyncIterator[Confinement]:
    confinement = await probe("bwrap")
    if not confinement.usable:
        require("REQUIRE_BWRAP", f"bubblewrap cannot confine commands here: {confinement.reason}")
    yield confinement


@pytest.fixture
def work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "README.md").write_text("inside\n")
    return work


async def run(confinement: Confinement, work: Path, *argv: str) -> terminal.RunResult:
    return await terminal.run_argv(
        confinement.wrap(argv, str(work)), cwd=str(work), env={"PATH": "/usr/bin:/bin"}, timeout=30, limit=65536
    )


async def test_the_workdir_is_readable_and_nothing_can_be_written(confined: Confinement, work: Path) -> None:
    """Positive control: the workdir's files are there, read-only."""
    result = await run(confined, work, "/usr/bin/cat", "README.md")
    assert (result.exit_code, result.output) == (0, b"inside\n")
    result = await run(confined, work, "/usr/bin/touch", "new-file")
    assert result.exit_code != 0 and not (work / "new-file").exists()


async def test_etc_shadow_and_root_home_do_not_exist_inside(confined: Confinement, work: Path) -> None:
    """The minimal /etc has no shadow; /root is not there at all."""
    for argv in (
        ("/usr/bin/cat", "/etc/shadow"),
        ("/usr/bin/ls", "/root"),
        ("/usr/bin/cat", "/etc/ssh/ssh_host_rsa_key"),
    ):
        result = await run(confined, work, *argv)
        assert result.exit_code != 0, argv
        assert b"No such file" in result.output, result.output


async def test_no_other_process_and_no_server_environment_is_visible(
    confined: Confinement, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh /proc: the server's pid does not exist inside, and its environment never shows."""
    monkeypatch.setenv(CANARY, "secret")
    for path in ("/proc/1/environ", f"/proc/{os.getpid()}/environ", "/proc/self/environ"):
        result = await run(confined, work, "/usr/bin/cat", path)
        assert CANARY.encode() not in result.output, path
    result = await run(confined, work, "/usr/bin/ls", "/proc")
    pids = [int(name) for name in result.output.decode().split() if name.isdigit()]
    assert os.getpid() not in pids and max(pids) < 10, pids


async def test_the_server_cannot_be_killed_from_inside(confined: Confinement, work: Path) -> None:
    """kill of the server's pid names no process in the command's pid namespace."""
    result = await run(confined, work, "/usr/bin/kill", "-9", str(os.getpid()))
    assert result.exit_code != 0
    assert os.getpid() > 0  # still here


async def test_no_network_not_even_loopback(confined: Confinement, work: Path) -> None:
    """A connection to a port this test listens on never arrives: the command has its own network."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        result = await run(confined, work, "/usr/bin/bash", "-c", f"echo hi > /dev/tcp/127.0.0.1/{port}")
        assert result.exit_code != 0
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()


async def test_root_is_dropped_for_real(confined: Confinement, work: Path) -> None:
    """As root, commands run as nobody with no capabilities; otherwise as the server's own user."""
    result = await run(confined, work, "/usr/bin/id", "-u")
    expected = 65534 if os.geteuid() == 0 else os.geteuid()
    assert int(result.output) == expected
    status = (await run(confined, work, "/usr/bin/cat", "/proc/self/status")).output.decode()
    caps = {line.split(":")[0]: line.split(":")[1].strip() for line in status.splitlines() if line.startswith("Cap")}
    assert int(caps["CapEff"], 16) == 0
    if os.geteuid() == 0:
        assert int(caps["CapBnd"], 16) == 0


async def test_with_the_argument_policy_switched_off_etc_shadow_stays_unreadable(
    confined: Confinement, work: Path
) -> None:
    """The acceptance case: a plan the policy would never make, run through the host runner."""
    settings = Settings.from_env({"DATA_DIR": str(work.parent / "data"), "AGENT_WORKDIR": str(work)})
    plan = CommandPlan(program="cat", argv=("/usr/bin/cat", "/etc/shadow"), command="cat /etc/shadow")
    outcome = await terminal._run_on_host(plan, settings, str(work))
    assert outcome.exit_code != 0
    assert b"root:" not in outcome.output.encode()


async def test_an_unusable_confinement_disables_the_skill_with_its_reason(work: Path) -> None:
    """Without bubblewrap the terminal refuses every command and says why (unless TERMINAL_CONFINEMENT=none)."""
    unavailable = Confinement(mode="unavailable", reason="bubblewrap (bwrap) is not installed")
    with pytest.raises(RuntimeError, match="unavailable"):
        unavailable.wrap(["/usr/bin/true"], str(work))
    assert (await probe("none")).wrap(["/usr/bin/true"], str(work)) == ["/usr/bin/true"]


async def test_without_confinement_every_command_is_refused_with_the_reason(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine where bubblewrap cannot run: the skill answers every command with why it is off."""

    async def unavailable(setting: str) -> Confinement:
        return Confinement(mode="unavailable", reason="bubblewrap (bwrap) is not installed")

    monkeypatch.setattr(terminal, "confinement_for", unavailable)
    settings = Settings.from_env({"DATA_DIR": str(work.parent / "data"), "AGENT_WORKDIR": str(work)})
    outcome = await terminal.execute_command("ls", settings=settings)
    assert outcome.refused is not None and "disabled" in outcome.refused and "bwrap" in outcome.refused
