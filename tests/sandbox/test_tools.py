"""Sandbox tool contract and formatting (no engine needed)."""

from __future__ import annotations

from backend.sandbox import ExecResult
from backend.tools import sandbox_tools
from backend.tools.registry import ToolRegistry


def test_tool_names_are_the_public_contract() -> None:
    """The four tools register under their documented names with typed string arguments."""
    registry = ToolRegistry()
    registry.register_all(sandbox_tools.TOOLS, group="sandbox")
    assert registry.names() == ["sandbox_exec", "sandbox_run_python", "sandbox_write_file", "sandbox_read_file"]
    assert registry.get("sandbox_write_file").parameters_schema()["required"] == ["path", "content"]
    assert registry.get("sandbox_exec").parameters_schema()["properties"]["command"]["type"] == "string"


def test_format_states_exit_code_duration_and_truncation() -> None:
    """Header carries exit code and duration; truncation and timeouts are said in words."""
    ok = ExecResult(exit_code=0, output="hi\n", truncated=False, timed_out=False, duration=0.1234)
    assert sandbox_tools.format_exec(ok) == "[exit 0 in 0.12s]\nhi"
    cut = ExecResult(
        exit_code=0, output="x\n[output truncated at 9 bytes]", truncated=True, timed_out=False, duration=1
    )
    assert sandbox_tools.format_exec(cut).startswith("[exit 0 in 1.00s] [output truncated]\n")
    slow = ExecResult(exit_code=137, output="", truncated=False, timed_out=True, duration=2.05)
    assert sandbox_tools.format_exec(slow) == "[timed out after 2.0s; command killed] (no output)"


def test_clip_keeps_head_and_tail() -> None:
    """Long text keeps its beginning and end with a count of what was left out."""
    text = "".join(f"{i:05d}\n" for i in range(10_000))
    clipped = sandbox_tools.clip(text, 600)
    assert clipped.startswith("00000\n") and clipped.endswith("09999\n")
    assert "characters omitted" in clipped
    assert len(clipped) < 700
    assert sandbox_tools.clip("short", 600) == "short"
