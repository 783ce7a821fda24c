"""The terminal skill: run one allowlisted, read-only command for the model or for the user.

The policy (what may run) lives in :mod:`backend.tools.terminal_policy`; this module runs what the
policy allowed, without a shell: ``asyncio.create_subprocess_exec`` with a fixed absolute program
path, a scrubbed environment, stdin closed, its own process group, a timeout that kills the whole
group, and output capped while it streams. ``TERMINAL_BACKEND=sandbox`` sends the same argv to the
session's sandbox instead.

Explicit modes (``!ls``, ``执行命令: pwd``, ``查看文件 README.md``, ``列出当前目录``) bypass the model:
the session layer calls :func:`parse_explicit_command` then :func:`execute_command`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import shlex
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from ..errors import SandboxUnavailableError, ToolError
from ..settings import Settings
from .registry import ToolDeps
from .terminal_policy import (
    CommandPlan,
    CommandRefusedError,
    TerminalPolicy,
    build_env,
    build_policy,
    risky_git_config,
)

logger = logging.getLogger(__name__)

_READ_CHUNK = 64 * 1024
_REAP_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What happened to one command. ``text`` is what the model (or the user) is shown."""

    command: str
    argv: tuple[str, ...]
    exit_code: int | None
    output: str
    truncated: bool
    timed_out: bool
    duration: float
    refused: str | None
    text: str


@dataclass(frozen=True, slots=True)
class RunResult:
    """The raw result of :func:`run_argv`."""

    exit_code: int | None  # None when we killed the process (timeout or output limit)
    output: bytes
    truncated: bool
    timed_out: bool
    duration: float


# --- explicit modes --------------------------------------------------------------------------------
_RUN_PREFIX = re.compile(r"^执行命令\s*[:\uff1a]\s*(.*)$", re.S)
_VIEW_PREFIX = re.compile(r"^查看文件(?:\s*[:\uff1a]\s*|\s+)(.*)$", re.S)
_LIST_PHRASE = "列出当前目录"


def parse_explicit_command(text: str) -> str | None:
    """The command an explicit-mode message asks for, or None for an ordinary chat message.

    ``!ls -la`` -> ``ls -la``; ``执行命令: pwd`` (ASCII or fullwidth colon) -> ``pwd``;
    ``查看文件 README.md`` -> ``cat README.md`` (the file name is quoted as one argument);
    ``列出当前目录`` -> ``ls -la``.
    """
    message = text.strip()
    if message.startswith("!"):
        return message[1:].strip() or None
    if message == _LIST_PHRASE:
        return "ls -la"
    if match := _RUN_PREFIX.match(message):
        return match.group(1).strip() or None
    if match := _VIEW_PREFIX.match(message):
        name = match.group(1).strip()
        return f"cat {shlex.quote(name)}" if name else None
    return None


# --- running ---------------------------------------------------------------------------------------
def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def run_argv(argv: Sequence[str], *, cwd: str, env: Mapping[str, str], timeout: float, limit: int) -> RunResult:
    """Run ``argv`` (no shell) in its own session; stop at ``timeout`` or ``limit`` output bytes.

    stdout and stderr are merged, stdin is /dev/null. On timeout, output limit or cancellation the
    whole process group gets SIGKILL.
    """
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    buffer = bytearray()
    truncated = timed_out = finished = False
    try:
        async with asyncio.timeout(timeout):
            while chunk := await proc.stdout.read(_READ_CHUNK):
                buffer += chunk
                if len(buffer) > limit:
                    truncated = True
                    del buffer[limit:]
                    break
            if not truncated:
                await proc.wait()
                finished = True
    except TimeoutError:
        timed_out = True
    finally:
        if not finished:
            _kill_group(proc.pid)
            try:
                await asyncio.wait_for(proc.wait(), _REAP_TIMEOUT)
            except TimeoutError:
                logger.warning("terminal: process %d did not exit after SIGKILL", proc.pid)
    return RunResult(
        exit_code=proc.returncode if finished else None,
        output=bytes(buffer),
        truncated=truncated,
        timed_out=timed_out,
        duration=time.monotonic() - started,
    )


def format_result(
    command: str,
    output: str,
    *,
    exit_code: int | None,
    truncated: bool,
    timed_out: bool,
    duration: float,
    limit: int,
    timeout: float,
) -> str:
    """The compact text the model sees: ``$ cmd``, the output, then what happened."""
    lines = [f"$ {command}"]
    body = output.rstrip("\n")
    if body:
        lines.append(body)
    if truncated:
        lines.append(f"[output truncated at {limit} bytes]")
    if timed_out:
        lines.append(f"[timed out after {timeout:g}s; process killed]")
    elif exit_code is None:
        lines.append(f"[stopped at the output limit after {duration:.2f}s]")
    else:
        lines.append(f"[exit {exit_code} in {duration:.2f}s]")
    return "\n".join(lines)


@functools.lru_cache(maxsize=16)
def _policy(workdir: str, sandbox: bool) -> TerminalPolicy:
    return build_policy(workdir, sandbox=sandbox)


def policy_for(settings: Settings) -> TerminalPolicy:
    """The policy for these settings (programs are resolved once per workdir and backend)."""
    return _policy(os.path.realpath(settings.agent_workdir), settings.terminal_backend == "sandbox")


def _git_preflight(workdir: str) -> None:
    """Refuse git where the repository could reach outside the workdir or run a program from its config."""
    dot_git = Path(workdir, ".git")
    if not dot_git.exists():
        return  # not a repository: git says so (it never looks above the workdir)
    if dot_git.is_file() or not _inside(workdir, str(dot_git)):
        raise CommandRefusedError(
            "refused: the workdir's .git points to a repository elsewhere (a worktree, submodule or "
            "symlink); git only runs on a repository stored inside the workdir"
        )
    alternates = dot_git / "objects" / "info" / "alternates"
    if alternates.is_file():
        for line in alternates.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.strip() and not line.startswith("#") and not _inside(workdir, str(dot_git / "objects" / line)):
                raise CommandRefusedError(
                    "refused: this repository borrows objects from outside the workdir (objects/info/alternates)"
                )
    for path in [dot_git / "config", dot_git / "config.worktree", *dot_git.glob("modules/**/config")]:
        if path.is_file():
            risks = risky_git_config(path.read_text(encoding="utf-8", errors="replace"))
            if risks:
                raise CommandRefusedError(
                    f"refused: this repository's git config sets {risks[0]}, which a read-only git command "
                    "could run; git is not run here (use the sandbox to inspect this repository)"
                )


def _inside(root: str, path: str) -> bool:
    real = os.path.realpath(path)
    return os.path.commonpath([real, root]) == root


async def execute_command(
    command: str, *, settings: Settings, sandbox: Any = None, session_id: str = ""
) -> CommandOutcome:
    """Check and run one command; refusals come back as an outcome with ``refused`` set.

    Raises :class:`ToolError` only when the command cannot be run at all (sandbox backend without a
    sandbox, program missing at run time).
    """
    use_sandbox = settings.terminal_backend == "sandbox"
    policy = policy_for(settings)
    try:
        plan = policy.check(command)
        if plan.program == "git" and not use_sandbox:
            await asyncio.to_thread(_git_preflight, policy.workdir)
    except CommandRefusedError as exc:
        logger.info("terminal: refused a command")
        logger.debug("terminal: refused %r: %s", command, exc.message)
        return CommandOutcome(command.strip(), (), None, "", False, False, 0.0, exc.message, exc.message)
    if use_sandbox:
        return await _run_in_sandbox(plan, settings, sandbox, session_id)
    return await _run_on_host(plan, settings, policy.workdir)


async def _run_on_host(plan: CommandPlan, settings: Settings, workdir: str) -> CommandOutcome:
    try:
        result = await run_argv(
            plan.argv,
            cwd=workdir,
            env=build_env(workdir),
            timeout=settings.terminal_timeout,
            limit=settings.terminal_output_limit,
        )
    except OSError as exc:
        raise ToolError(f"could not start {plan.program} in {workdir} (AGENT_WORKDIR): {exc.strerror or exc}") from exc
    logger.info(
        "terminal: %s exit=%s in %.2fs (truncated=%s, timed_out=%s)",
        plan.program,
        result.exit_code,
        result.duration,
        result.truncated,
        result.timed_out,
    )
    return _outcome(plan, settings, result)


async def _run_in_sandbox(plan: CommandPlan, settings: Settings, sandbox: Any, session_id: str) -> CommandOutcome:
    if sandbox is None:
        raise SandboxUnavailableError(
            "sandbox unavailable: TERMINAL_BACKEND=sandbox but this session has no sandbox (is Docker running?)"
        )
    reply = await sandbox.exec(session_id, list(plan.argv), timeout=settings.terminal_timeout)
    limit = settings.terminal_output_limit
    encoded = str(reply.output).encode("utf-8", errors="replace")
    result = RunResult(
        exit_code=None if reply.timed_out else reply.exit_code,
        output=encoded[:limit],
        truncated=bool(reply.truncated) or len(encoded) > limit,
        timed_out=bool(reply.timed_out),
        duration=float(reply.duration),
    )
    logger.info("terminal(sandbox): %s exit=%s in %.2fs", plan.program, result.exit_code, result.duration)
    return _outcome(plan, settings, result)


def _outcome(plan: CommandPlan, settings: Settings, result: RunResult) -> CommandOutcome:
    output = result.output.decode("utf-8", errors="replace")
    text = format_result(
        plan.command,
        output,
        exit_code=result.exit_code,
        truncated=result.truncated,
        timed_out=result.timed_out,
        duration=result.duration,
        limit=settings.terminal_output_limit,
        timeout=settings.terminal_timeout,
    )
    return CommandOutcome(
        plan.command,
        plan.argv,
        result.exit_code,
        output,
        result.truncated,
        result.timed_out,
        result.duration,
        None,
        text,
    )


# --- the tool --------------------------------------------------------------------------------------
async def run_terminal_command(
    deps: ToolDeps,
    command: Annotated[str, "One command, e.g. `ls -la`, `grep -rn TODO src`, `git log --oneline -5`"],
) -> str:
    """Run one read-only command in the workdir and return its output and exit code.

    Allowed: pwd, ls, cat, head, tail, wc, grep, rg, find, tree, echo, date, and read-only git
    (status, log, diff, show, branch, tag, blame, grep, ls-files, rev-parse, shortlog, describe).
    No shell: pipes, redirection, `;`, `&&`, `$VAR` and globs are refused; quote patterns. Paths
    must stay inside the workdir. To run code or tests use the sandbox tools.
    """
    outcome = await execute_command(command, settings=deps.settings, sandbox=deps.sandbox, session_id=deps.session_id)
    if outcome.refused is not None:
        raise CommandRefusedError(outcome.refused)
    return outcome.text


TOOLS = [run_terminal_command]
