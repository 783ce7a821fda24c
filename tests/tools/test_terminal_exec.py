"""Running commands for real in a temporary workdir: output, limits, timeouts, env, modes, backends."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from backend.errors import SandboxUnavailableError, ToolError
from backend.settings import Settings
from backend.tools.registry import ToolDeps, ToolRegistry
from backend.tools.terminal import (
    TOOLS,
    execute_command,
    parse_explicit_command,
    run_argv,
    run_terminal_command,
)
from backend.tools.terminal_policy import build_env

GIT_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
}


def git(workdir: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=t@example.com", *args],
        cwd=workdir, env=GIT_ENV, check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "README.md").write_text("# Demo\nhello world\nsecond line\n")
    (work / "src" / "app.py").write_text("print('hello')\n# TODO: more\n")
    return work


def make_settings(workdir: Path, **extra: str) -> Settings:
    return Settings.from_env({"AGENT_WORKDIR": str(workdir), **extra})


@dataclass
class RecordingEvents:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def emit(self, type_: str, **fields: Any) -> None:
        self.events.append((type_, fields))


@dataclass
class FakeExecResult:
    exit_code: int | None
    output: str
    truncated: bool = False
    timed_out: bool = False
    duration: float = 0.25


@dataclass
class FakeSandbox:
    """Our own sandbox interface: ``exec(session_id, command, *, timeout)`` -> ExecResult."""

    result: FakeExecResult
    calls: list[tuple[str, list[str] | str, float | None]] = field(default_factory=list)

    async def exec(self, session_id: str, command: list[str] | str, *, timeout: float | None = None) -> FakeExecResult:
        self.calls.append((session_id, command, timeout))
        return self.result


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found


# --- everyday commands -----------------------------------------------------------------------------
async def test_ls_lists_the_workdir_with_exit_code_and_duration(workdir: Path) -> None:
    """ls runs in the workdir; the text shows the command, output and '[exit 0 in ...s]'."""
    outcome = await execute_command("ls -la", settings=make_settings(workdir))
    assert outcome.refused is None and outcome.exit_code == 0
    assert "README.md" in outcome.output and "src" in outcome.output
    assert outcome.text.startswith("$ ls -la\n")
    assert outcome.text.endswith(f"[exit 0 in {outcome.duration:.2f}s]")


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("cat README.md", "hello world"),
        ("head -n 1 README.md", "# Demo"),
        ("tail -n 1 README.md", "second line"),
        ("wc -l README.md", "3 README.md"),
        ("grep -rn TODO", "src/app.py:2:# TODO: more"),
        ("find . -name '*.py'", "./src/app.py"),
        ("pwd", ""),
        ("echo 'a|b' done", "a|b done"),
        ("date -u -d @0 +%Y", "1970"),
    ],
)
async def test_allowed_programs_produce_their_output(workdir: Path, command: str, expected: str) -> None:
    """Each allowlisted program runs for real and its output reaches the text."""
    outcome = await execute_command(command, settings=make_settings(workdir))
    assert outcome.exit_code == 0, outcome.text
    assert expected in outcome.output


async def test_pwd_is_the_workdir(workdir: Path) -> None:
    """The default cwd of every command is the workdir."""
    outcome = await execute_command("pwd", settings=make_settings(workdir))
    assert outcome.output.strip() == os.path.realpath(workdir)


@pytest.mark.skipif(shutil.which("rg") is None, reason="ripgrep is not installed")
async def test_rg_searches_the_workdir_not_stdin(workdir: Path) -> None:
    """rg with no path searches the workdir (stdin is /dev/null, not a pipe to read)."""
    outcome = await execute_command("rg -n TODO", settings=make_settings(workdir))
    assert "src/app.py:2:# TODO: more" in outcome.output


async def test_stderr_is_merged_and_non_zero_exit_is_reported(workdir: Path) -> None:
    """A failing command is not an error for the tool: the model sees stderr and the exit code."""
    outcome = await execute_command("ls missing-file", settings=make_settings(workdir))
    assert outcome.refused is None and outcome.exit_code == 2
    assert "No such file" in outcome.output and "[exit 2 in" in outcome.text


async def test_invalid_utf8_is_replaced_not_fatal(workdir: Path) -> None:
    """Output is decoded as UTF-8 with replacement characters."""
    (workdir / "bin.dat").write_bytes(b"ok \xff\xfe end\n")
    outcome = await execute_command("cat bin.dat", settings=make_settings(workdir))
    assert outcome.output == "ok \ufffd\ufffd end\n"


async def test_stdin_is_closed(workdir: Path) -> None:
    """A program reading stdin sees end-of-file at once instead of hanging."""
    outcome = await execute_command("cat", settings=make_settings(workdir, TERMINAL_TIMEOUT="5"))
    assert outcome.exit_code == 0 and outcome.output == ""


# --- git -------------------------------------------------------------------------------------------
@pytest.fixture
def repo(workdir: Path) -> Path:
    git(workdir, "init", "-q", "-b", "main")
    git(workdir, "add", ".")
    git(workdir, "commit", "-q", "-m", "first commit")
    (workdir / "README.md").write_text("# Demo\nchanged\n")
    return workdir


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("git log --oneline", "first commit"),
        ("git status --short", " M README.md"),
        ("git diff", "+changed"),
        ("git show --stat HEAD", "src/app.py"),
        ("git branch", "* main"),
        ("git ls-files", "src/app.py"),
        ("git grep -n TODO", "src/app.py:2:# TODO: more"),
        ("git blame -L 1,1 src/app.py", "print('hello')"),
    ],
)
async def test_read_only_git_works_in_a_repository(repo: Path, command: str, expected: str) -> None:
    """log, status, diff, show, branch, ls-files, grep and blame run in the workdir's repository."""
    outcome = await execute_command(command, settings=make_settings(repo))
    assert outcome.exit_code == 0, outcome.text
    assert expected in outcome.output


async def test_git_status_does_not_rewrite_the_index(repo: Path) -> None:
    """GIT_OPTIONAL_LOCKS=0: git status leaves .git/index untouched."""
    index = repo / ".git" / "index"
    before = index.stat().st_mtime_ns
    time.sleep(0.01)
    (repo / "src" / "app.py").touch()  # stat-dirty: a normal status would refresh the index
    await execute_command("git status", settings=make_settings(repo))
    assert index.stat().st_mtime_ns == before
    git(repo, "status")  # control: an ordinary git status does refresh it
    assert index.stat().st_mtime_ns != before


async def test_git_does_not_discover_a_repository_above_the_workdir(repo: Path) -> None:
    """A workdir inside a repository sees no repository: git never walks above the workdir."""
    outcome = await execute_command("git log", settings=make_settings(repo / "src"))
    assert outcome.exit_code == 128 and "not a git repository" in outcome.output


# --- limits ----------------------------------------------------------------------------------------
async def test_output_is_capped_while_streaming_with_a_marker(workdir: Path) -> None:
    """A large file is cut at the limit, the process stopped, and the text says so."""
    (workdir / "big.txt").write_text("x" * 2_000_000)
    outcome = await execute_command("cat big.txt", settings=make_settings(workdir, TERMINAL_OUTPUT_LIMIT="1024"))
    assert outcome.truncated and len(outcome.output) == 1024
    assert "[output truncated at 1024 bytes]" in outcome.text
    assert outcome.exit_code is None and not outcome.timed_out, "stopped at the limit, not by the timeout"


async def test_endless_output_stops_at_the_limit(tmp_path: Path) -> None:
    """The reader stops and kills a never-ending writer as soon as the limit is passed."""
    result = await run_argv(["/usr/bin/yes"], cwd=str(tmp_path), env=build_env(str(tmp_path)), timeout=10, limit=4096)
    assert result.truncated and len(result.output) == 4096
    assert result.exit_code is None and not result.timed_out


async def test_timeout_kills_a_blocked_command_and_leaves_no_process(workdir: Path) -> None:
    """cat of a FIFO with no writer blocks; the timeout kills it and nothing is left running."""
    fifo = workdir / "pipe-7c1e"
    os.mkfifo(fifo)
    outcome = await execute_command("cat pipe-7c1e", settings=make_settings(workdir, TERMINAL_TIMEOUT="0.5"))
    assert outcome.timed_out and outcome.exit_code is None
    assert "[timed out after 0.5s; process killed]" in outcome.text
    assert processes_mentioning("pipe-7c1e") == []


async def test_cancelling_the_call_kills_the_command(workdir: Path) -> None:
    """A stopped turn cancels the tool; the blocked process is killed, not left behind."""
    os.mkfifo(workdir / "pipe-cancel-3f9a")
    task = asyncio.create_task(execute_command("cat pipe-cancel-3f9a", settings=make_settings(workdir)))
    deadline = time.monotonic() + 5
    while not processes_mentioning("pipe-cancel-3f9a") and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert processes_mentioning("pipe-cancel-3f9a"), "the command never started"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert processes_mentioning("pipe-cancel-3f9a") == []


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    """Grandchildren die with the command: SIGKILL goes to the process group."""
    marker = "87.654321"
    script = f"sleep {marker} & sleep {marker}; echo never"
    result = await run_argv(["/bin/sh", "-c", script], cwd=str(tmp_path), env=build_env(str(tmp_path)),
                            timeout=0.5, limit=1024)  # fmt: skip
    assert result.timed_out
    assert processes_mentioning(f"sleep {marker}") == [], "run_argv returns only once the group is gone"


async def test_the_environment_is_scrubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host secret in os.environ never reaches the child: its environment is exactly build_env()."""
    monkeypatch.setenv("FAKE_API_KEY", "secret-canary-123")
    env = build_env(str(tmp_path))
    result = await run_argv(["/usr/bin/env"], cwd=str(tmp_path), env=env, timeout=5, limit=65536)
    printed = dict(line.split("=", 1) for line in result.output.decode().splitlines())
    assert printed == env
    assert b"secret-canary-123" not in result.output


async def test_environment_readers_are_refused(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """env is not allowlisted and /proc/self/environ is outside the workdir."""
    monkeypatch.setenv("FAKE_API_KEY", "secret-canary-123")
    for command in ("env", "cat /proc/self/environ", "printenv FAKE_API_KEY"):
        outcome = await execute_command(command, settings=make_settings(workdir))
        assert outcome.refused is not None and "secret-canary-123" not in outcome.text


# --- explicit modes ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "command"),
    [
        ("!ls -la", "ls -la"),
        ("  !ls", "ls"),
        ("!", None),
        ("! ", None),
        ("执行命令: pwd", "pwd"),
        ("执行命令\uff1apwd", "pwd"),
        ("执行命令 \uff1a git status", "git status"),
        ("执行命令:", None),
        ("查看文件 README.md", "cat README.md"),
        ("查看文件: README.md", "cat README.md"),
        ("查看文件\uff1amy notes.txt", "cat 'my notes.txt'"),
        ("查看文件 $(touch x)", "cat '$(touch x)'"),
        ("列出当前目录", "ls -la"),
        ("  列出当前目录  ", "ls -la"),
        ("请列出当前目录", None),
        ("hello there", None),
        ("what does !ls do?", None),
    ],
)
def test_parse_explicit_command(message: str, command: str | None) -> None:
    """The explicit modes map to a command; any other message is ordinary chat (None)."""
    assert parse_explicit_command(message) == command


async def test_bang_ls_lists_the_workdir_without_the_model(workdir: Path) -> None:
    """'!ls' runs ls in the workdir directly."""
    command = parse_explicit_command("!ls")
    assert command is not None
    outcome = await execute_command(command, settings=make_settings(workdir))
    assert "README.md" in outcome.output and outcome.exit_code == 0


async def test_bang_rm_rf_is_refused(workdir: Path) -> None:
    """'!rm -rf /' is refused with the friendly destructive message; nothing runs."""
    command = parse_explicit_command("!rm -rf /")
    assert command == "rm -rf /"
    outcome = await execute_command(command, settings=make_settings(workdir))
    assert outcome.refused is not None and "looks destructive" in outcome.text
    assert outcome.argv == () and (workdir / "README.md").exists()


async def test_view_file_mode_cannot_inject(workdir: Path, tmp_path: Path) -> None:
    """The 查看文件 file name is one quoted argument: metacharacters stay literal."""
    command = parse_explicit_command("查看文件 x; touch canary")
    assert command is not None
    outcome = await execute_command(command, settings=make_settings(workdir))
    assert "No such file" in outcome.output
    assert not (workdir / "canary").exists() and not (tmp_path / "canary").exists()


# --- the tool and the sandbox backend ---------------------------------------------------------------
def deps_for(settings: Settings, sandbox: Any = None) -> ToolDeps:
    return ToolDeps(session_id="s-1", settings=settings, store=None, events=RecordingEvents(), sandbox=sandbox)


async def test_tool_returns_the_compact_text(workdir: Path) -> None:
    """run_terminal_command returns '$ cmd', output and the exit line."""
    text = await run_terminal_command(deps_for(make_settings(workdir)), "cat README.md")
    assert text.startswith("$ cat README.md\n# Demo") and "[exit 0 in" in text


async def test_tool_raises_tool_error_on_refusal(workdir: Path) -> None:
    """A refusal becomes a ToolError whose message explains why."""
    with pytest.raises(ToolError, match="shell syntax"):
        await run_terminal_command(deps_for(make_settings(workdir)), "ls | cat")


def test_tool_registers_under_its_public_name() -> None:
    """The tool name and its single 'command' argument are a public contract."""
    registry = ToolRegistry()
    registry.register_all(TOOLS, group="terminal")
    spec = registry.get("run_terminal_command")
    schema = spec.parameters_schema()
    assert spec.group == "terminal" and list(schema["properties"]) == ["command"]
    assert schema["required"] == ["command"]


async def test_sandbox_backend_runs_the_checked_argv_in_the_sandbox(workdir: Path) -> None:
    """TERMINAL_BACKEND=sandbox sends the same argv (program by name) to sandbox.exec."""
    sandbox = FakeSandbox(FakeExecResult(exit_code=0, output="a.txt\n"))
    settings = make_settings(workdir, TERMINAL_BACKEND="sandbox", TERMINAL_TIMEOUT="7")
    text = await run_terminal_command(deps_for(settings, sandbox), "ls -la")
    assert sandbox.calls == [("s-1", ["ls", "-la"], 7.0)]
    assert text == "$ ls -la\na.txt\n[exit 0 in 0.25s]"


async def test_sandbox_backend_still_refuses_shell_syntax_and_unknown_programs(workdir: Path) -> None:
    """The policy applies before anything reaches the sandbox."""
    sandbox = FakeSandbox(FakeExecResult(exit_code=0, output=""))
    settings = make_settings(workdir, TERMINAL_BACKEND="sandbox")
    for command in ("ls; id", "python -c 1", "find . -delete", "git commit -m x"):
        outcome = await execute_command(command, settings=settings, sandbox=sandbox, session_id="s-1")
        assert outcome.refused is not None
    assert sandbox.calls == []


async def test_sandbox_backend_reports_timeouts_and_caps_output(workdir: Path) -> None:
    """Sandbox timeouts and oversized output are reported like host ones."""
    settings = make_settings(workdir, TERMINAL_BACKEND="sandbox", TERMINAL_OUTPUT_LIMIT="256")
    big = FakeSandbox(FakeExecResult(exit_code=0, output="y" * 1000))
    outcome = await execute_command("cat big", settings=settings, sandbox=big, session_id="s")
    assert outcome.truncated and len(outcome.output) == 256 and "[output truncated at 256 bytes]" in outcome.text
    slow = FakeSandbox(FakeExecResult(exit_code=None, output="", timed_out=True, duration=30.0))
    outcome = await execute_command("cat x", settings=settings, sandbox=slow, session_id="s")
    assert outcome.timed_out and "[timed out after 30s; process killed]" in outcome.text


async def test_sandbox_backend_without_a_sandbox_is_unavailable(workdir: Path) -> None:
    """No sandbox object -> ToolError('sandbox unavailable: ...')."""
    settings = make_settings(workdir, TERMINAL_BACKEND="sandbox")
    with pytest.raises(SandboxUnavailableError, match=r"^sandbox unavailable: "):
        await run_terminal_command(deps_for(settings, None), "ls")


async def test_a_missing_workdir_is_a_clear_tool_error(tmp_path: Path) -> None:
    """AGENT_WORKDIR pointing nowhere is reported, naming the setting."""
    with pytest.raises(ToolError, match="AGENT_WORKDIR"):
        await execute_command("ls", settings=make_settings(tmp_path / "missing"))
