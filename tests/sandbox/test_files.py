"""File tools work on the read-only-root container: writes land in the /workspace tmpfs (real engine)."""

from __future__ import annotations

import pytest

from backend.errors import ToolError
from backend.sandbox import SandboxManager

pytestmark = [pytest.mark.docker, pytest.mark.asyncio(loop_scope="module")]


async def test_large_file_round_trips(manager: SandboxManager) -> None:
    """A 100 KB file (multi-byte text) is written via stdin and read back byte for byte."""
    content = ("line é ✓ " * 12 + "\n") * 800
    assert len(content.encode()) > 100_000
    path = await manager.write_file("files", "data/big.txt", content)
    assert path == "/workspace/data/big.txt"
    size = await manager.exec("files", ["wc", "-c", path])
    assert size.output.split()[0] == str(len(content.encode()))
    text, truncated = await manager.read_file("files", "data/big.txt", limit=200_000)
    assert (text, truncated) == (content, False)


async def test_read_is_capped_and_says_so(manager: SandboxManager) -> None:
    """read_file returns at most `limit` bytes and reports the truncation."""
    await manager.write_file("files", "ten.txt", "0123456789")
    assert await manager.read_file("files", "ten.txt", limit=4) == ("0123", True)
    assert await manager.read_file("files", "/workspace/ten.txt", limit=10) == ("0123456789", False)


async def test_written_files_are_owned_by_the_sandbox_user(manager: SandboxManager) -> None:
    """Files are created by uid 1000 in the tmpfs workdir, visible to later commands."""
    await manager.write_file("files", "owned.py", "print('from file')\n")
    result = await manager.exec("files", "stat -c %u owned.py && python3 owned.py")
    assert result.output.split("\n")[:2] == ["1000", "from file"]


async def test_missing_file_is_a_tool_error(manager: SandboxManager) -> None:
    """Reading a file that does not exist raises ToolError naming it."""
    with pytest.raises(ToolError, match=r"no such file: /workspace/nope\.txt"):
        await manager.read_file("files", "nope.txt")


@pytest.mark.parametrize("path", ["../etc/passwd", "/etc/passwd", "a/../../tmp/x"])
async def test_paths_outside_the_workspace_are_refused(manager: SandboxManager, path: str) -> None:
    """Escapes are refused before anything runs in the container."""
    with pytest.raises(ToolError, match="outside /workspace"):
        await manager.write_file("files", path, "x")
    with pytest.raises(ToolError, match="outside /workspace"):
        await manager.read_file("files", path)


async def test_writing_over_a_directory_fails_cleanly(manager: SandboxManager) -> None:
    """A write the shell refuses (target is a directory) becomes a ToolError with the reason."""
    await manager.exec("files", "mkdir -p adir")
    with pytest.raises(ToolError, match="could not write /workspace/adir"):
        await manager.write_file("files", "adir", "x")
