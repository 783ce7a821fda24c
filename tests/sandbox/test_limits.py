"""Runaway commands are stopped by the limits and the container stays usable (real engine)."""

from __future__ import annotations

import asyncio
import time

import pytest

from backend.sandbox import SandboxManager

pytestmark = [pytest.mark.docker, pytest.mark.asyncio(loop_scope="module")]

SESSION = "limits"


async def _alive(manager: SandboxManager) -> list[str]:
    """The container answers; return the processes running besides init, the keep-alive and this probe."""
    result = await manager.exec(SESSION, "echo alive; ps -eo args=")
    assert result.exit_code == 0, result
    lines = result.output.splitlines()
    assert lines[0] == "alive"
    # also an exec still starting ("runc init")
    ignored: tuple[str, ...] = ("/sbin/docker-init", "/bin/bash -c mkfifo", "ps -eo", "timeout -s KILL", "runc init")
    ignored += ("/bin/bash -c prev=",)  # a timeout's marker killer, still finishing
    # zombies (<defunct>) are already dead; docker-init reaps them
    return [p for p in lines[1:] if not p.startswith(ignored) and "echo alive" not in p and "<defunct>" not in p]


async def _settled(manager: SandboxManager, seconds: float = 5.0) -> list[str]:
    """What still runs once leftovers had time to be reaped (reaping runs after the call returns)."""
    deadline = time.monotonic() + seconds
    while (left := await _alive(manager)) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return left


async def test_sleep_is_killed_at_the_timeout(manager: SandboxManager) -> None:
    """sleep 3600 with a 2 s timeout: killed near 2 s, reported as timed out, container still usable."""
    result = await manager.exec(SESSION, "sleep 3600", timeout=2)
    assert result.timed_out is True
    assert await _settled(manager) == []


async def test_timeout_kills_forked_children_even_those_that_left_the_group(manager: SandboxManager) -> None:
    """Background children and a setsid escapee holding the pipe are all killed; the call returns."""
    command = "for i in 1 2 3; do sleep 3600 & done; setsid sleep 3600 & echo started; wait"
    result = await manager.exec(SESSION, command, timeout=2)
    assert result.timed_out is True
    assert "started" in result.output
    assert await _settled(manager) == []


async def test_python_timeout_applies_too(manager: SandboxManager) -> None:
    """run_python obeys the same timeout."""
    result = await manager.run_python(SESSION, "import time\nprint('go', flush=True)\ntime.sleep(3600)", timeout=2)
    assert result.timed_out is True
    assert result.output.startswith("go")


async def test_endless_output_is_capped_with_a_marker(manager: SandboxManager) -> None:
    """`yes` stops at SANDBOX_OUTPUT_LIMIT (4096) with a visible marker, long before the timeout."""
    result = await manager.exec(SESSION, "yes")
    assert result.truncated is True
    assert result.timed_out is False
    assert result.output.endswith("[output truncated at 4096 bytes]")
    assert len(result.output) <= 4096 + 40
    assert await _settled(manager) == []


async def test_long_output_below_the_drain_limit_still_finishes(manager: SandboxManager) -> None:
    """Output past the cap is dropped but the command runs to its real exit code."""
    result = await manager.exec(SESSION, "seq 1 100000; echo done >&2; exit 3")
    assert result.truncated is True
    assert result.exit_code == 3
    assert result.output.startswith("1\n2\n3\n")


async def test_fork_bomb_is_capped_by_the_pids_limit(manager: SandboxManager) -> None:
    """Forking until failure stops below SANDBOX_PIDS (64); the timeout clears it and the container survives."""
    code = (
        "import os, time\n"
        "n = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(3600)\n"
        "            os._exit(0)\n"
        "        n += 1\n"
        "except OSError as exc:\n"
        "    print('capped', n, exc.errno)\n"
    )
    result = await manager.run_python(SESSION, code, timeout=3)
    words = result.output.split()
    assert words[0] == "capped"
    assert 10 < int(words[1]) < 64
    # a shell bomb that outlives its command: frozen and killed once the command returns
    bomb = await manager.exec(SESSION, "bomb() { bomb | bomb & }; bomb; sleep 1", timeout=3)
    assert bomb.exit_code is not None
    assert await _settled(manager) == []


async def test_memory_hog_is_killed_alone(manager: SandboxManager) -> None:
    """Allocating twice SANDBOX_MEMORY (256m) kills only that process (137 or MemoryError)."""
    code = "data = b'x' * (512 * 1024 * 1024)\nprint('allocated', len(data))"
    result = await manager.run_python(SESSION, code)
    assert "allocated" not in result.output
    assert result.exit_code == 137 or "MemoryError" in result.output
    await _alive(manager)


async def test_exit_code_and_stderr_are_reported(manager: SandboxManager) -> None:
    """stdout and stderr arrive merged (two pipes: order between them is not kept), with the exit code."""
    result = await manager.exec(SESSION, "echo out; echo err >&2; exit 7")
    assert (result.exit_code, result.timed_out, result.truncated) == (7, False, False)
    assert sorted(result.output.splitlines()) == ["err", "out"]


async def test_argv_commands_are_not_parsed_by_a_shell(manager: SandboxManager) -> None:
    """A list runs as argv: shell metacharacters arrive verbatim."""
    result = await manager.exec(SESSION, ["echo", "$HOME; rm -rf /"])
    assert result.output == "$HOME; rm -rf /\n"


async def test_stopped_container_is_restarted_on_next_use(manager: SandboxManager) -> None:
    """`kill 1` inside stops the container; the next call starts it again."""
    await manager.exec("killer", "kill 1; sleep 5", timeout=10)
    result = await manager.exec("killer", "echo back")
    assert result.output == "back\n"
    await manager.remove("killer")


async def test_cancelling_the_call_kills_the_command(manager: SandboxManager) -> None:
    """A cancelled exec (the user pressed stop) kills its command within about a second."""
    task = asyncio.create_task(manager.exec(SESSION, "sleep 3600", timeout=60))
    await asyncio.sleep(1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _settled(manager) == []


async def test_background_leftovers_die_with_their_command(manager: SandboxManager) -> None:
    """Processes a command leaves running in the background are killed once it returns."""
    result = await manager.exec(SESSION, "nohup sleep 3600 >/dev/null 2>&1 & echo started")
    assert result.output == "started\n"
    assert await _settled(manager) == []
