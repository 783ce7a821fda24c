"""The sandbox tools through ToolDeps against the real engine."""

from __future__ import annotations

import pytest

from backend.sandbox import SandboxManager
from backend.tools import sandbox_tools
from backend.tools.registry import ToolDeps

from .fakes import NullEvents

pytestmark = [pytest.mark.docker, pytest.mark.asyncio(loop_scope="module")]


def _deps(manager: SandboxManager) -> ToolDeps:
    return ToolDeps(session_id="tools", settings=manager.settings, store=None, events=NullEvents(), sandbox=manager)


async def test_run_python_reports_output_and_exit(manager: SandboxManager) -> None:
    """sandbox_run_python('print(6*7)') answers 42 with an '[exit 0 in ...s]' header."""
    text = await sandbox_tools.sandbox_run_python(_deps(manager), "print(6*7)")
    assert text.startswith("[exit 0 in ")
    assert text.splitlines()[1] == "42"


async def test_exec_allows_shell_syntax_and_reports_failure(manager: SandboxManager) -> None:
    """sandbox_exec runs sh syntax (pipes, redirects) and shows a non-zero exit code."""
    text = await sandbox_tools.sandbox_exec(_deps(manager), "echo abc | tr a-c x-z > out.txt; cat out.txt; exit 4")
    assert text.startswith("[exit 4 in ")
    assert "xyz" in text


async def test_timeout_is_stated_as_killed(manager: SandboxManager) -> None:
    """A command past its timeout is formatted as timed out and killed."""
    result = await manager.exec("tools", "sleep 30", timeout=1)
    assert result.timed_out
    assert sandbox_tools.format_exec(result).startswith("[timed out after ")


async def test_long_output_is_cut_for_the_model(manager: SandboxManager) -> None:
    """Huge output: the manager's marker and the tool's head/tail cut keep the result small."""
    text = await sandbox_tools.sandbox_exec(_deps(manager), "seq 1 100000")
    assert "[output truncated]" in text.splitlines()[0]
    assert "[output truncated at 4096 bytes]" in text
    assert len(text) < sandbox_tools.TOOL_OUTPUT_CHARS + 200


async def test_write_then_read_file(manager: SandboxManager) -> None:
    """sandbox_write_file reports bytes and path; sandbox_read_file returns the content."""
    wrote = await sandbox_tools.sandbox_write_file(_deps(manager), "notes/todo.md", "# Todo\n- test\n")
    assert wrote == "[wrote 14 bytes to /workspace/notes/todo.md]"
    read = await sandbox_tools.sandbox_read_file(_deps(manager), "notes/todo.md")
    assert read == "[notes/todo.md]\n# Todo\n- test\n"
