"""Sandbox tools: run commands, Python and file I/O in the session's isolated container.

Each result is compact text for a small context budget: a header with the exit code, the duration
and whether output was cut, then the output (head and tail kept when it is long).
"""

from __future__ import annotations

from typing import Annotated, Any

from ..errors import ToolError
from ..sandbox import ExecResult
from .registry import ToolDeps, ToolFunc

#: Most characters of output a tool hands back to the model (about 1k tokens); the middle is cut.
TOOL_OUTPUT_CHARS = 4000


def _manager(deps: ToolDeps) -> Any:
    if deps.sandbox is None:
        raise ToolError("sandbox unavailable: not configured")
    return deps.sandbox


def clip(text: str, limit: int = TOOL_OUTPUT_CHARS) -> str:
    """Keep the head and the tail of long text, marking what was left out."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    omitted = len(text) - head - tail
    return f"{text[:head]}\n[... {omitted} characters omitted ...]\n{text[-tail:]}"


def format_exec(result: ExecResult) -> str:
    """``[exit 0 in 0.12s]`` + output; a timeout or a cut says so in the header."""
    if result.timed_out:
        header = f"[timed out after {result.duration:.1f}s; command killed]"
    elif result.exit_code is None:
        header = f"[exit status unknown after {result.duration:.2f}s]"
    else:
        header = f"[exit {result.exit_code} in {result.duration:.2f}s]"
    if result.truncated:
        header += " [output truncated]"
    body = clip(result.output.rstrip("\n"))
    return f"{header}\n{body}" if body else f"{header} (no output)"


async def sandbox_exec(deps: ToolDeps, command: Annotated[str, "sh syntax"]) -> str:
    """Run a shell command in the sandbox (python3, no network, cwd /workspace)."""
    if not command.strip():
        raise ToolError("command is empty")
    return format_exec(await _manager(deps).exec(deps.session_id, command))


async def sandbox_run_python(deps: ToolDeps, code: Annotated[str, "print() results"]) -> str:
    """Run Python 3 code in the sandbox; returns its output."""
    if not code.strip():
        raise ToolError("code is empty")
    return format_exec(await _manager(deps).run_python(deps.session_id, code))


async def sandbox_write_file(
    deps: ToolDeps,
    path: Annotated[str, "relative to /workspace"],
    content: str,
) -> str:
    """Write a text file in the sandbox."""
    target = await _manager(deps).write_file(deps.session_id, path, content)
    return f"[wrote {len(content.encode('utf-8'))} bytes to {target}]"


async def sandbox_read_file(deps: ToolDeps, path: Annotated[str, "relative to /workspace"]) -> str:
    """Read a text file in the sandbox."""
    content, truncated = await _manager(deps).read_file(deps.session_id, path, limit=TOOL_OUTPUT_CHARS)
    header = f"[{path}: first {TOOL_OUTPUT_CHARS} bytes; file is longer]" if truncated else f"[{path}]"
    return f"{header}\n{content}"


TOOLS: list[ToolFunc] = [sandbox_exec, sandbox_run_python, sandbox_write_file, sandbox_read_file]
