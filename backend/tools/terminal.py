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
from .confinement import confinement_for
from .registry import ToolDeps
from .terminal_policy import (
    CommandPlan,
    CommandRefusedError,
    TerminalPolicy,
    build_env,
    build_policy,
    risky_git_config,
)
from .uploads import TERMINAL_PATH as UPLOADS_PATH
from .uploads import find_folder as find_upload_folder

logger = logging.getLogger(__name__)

_READ_CHUNK = 64 * 1024
_REAP_TIMEOUT = 5.0
_REKILL_INTERVAL = 0.05


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


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies waiting for a parent do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if len(fields) > 2 and fields[0] != b"Z" and int(fields[2]) == pgid:
                return True
    return False


async def _drain(proc: asyncio.subprocess.Process) -> None:
    """Read to EOF, then wait: a paused pipe never sees its EOF, and asyncio's wait() also waits for
    the pipes (a truncated read leaves the transport paused)."""
    assert proc.stdout is not None
    while await proc.stdout.read(_READ_CHUNK):
        pass
    await proc.wait()


async def _reap(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the command's process group until everything in it is gone (or _REAP_TIMEOUT).

    The kill is repeated: a process forked while the first signal was in flight (a confined command
    still being set up when a turn is stopped) joins the group after it and would survive one kill."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _REAP_TIMEOUT
    drained = asyncio.ensure_future(_drain(proc))
    try:
        while not drained.done() and loop.time() < deadline:
            _kill_group(proc.pid)
            await asyncio.wait([drained], timeout=_REKILL_INTERVAL)
        while loop.time() < deadline and _group_alive(proc.pid):  # e.g. a pid namespace's init exiting
            _kill_group(proc.pid)
            await asyncio.sleep(_REKILL_INTERVAL)
    finally:
        if not drained.done():
            drained.cancel()
            logger.warning("terminal: process %d did not exit after SIGKILL", proc.pid)
        await asyncio.gather(drained, return_exceptions=True)


async def run_argv(argv: Sequence[str], *, cwd: str, env: Mapping[str, str], timeout: float, limit: int) -> RunResult:
    """Run ``argv`` (no shell) in its own session; stop at ``timeout`` or ``limit`` output bytes.

    stdout and stderr are merged, stdin is /dev/null. On timeout, output limit or cancellation the
    whole process group gets SIGKILL.
    """
    started = time.monotonic()
    spawn = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    )
    try:
        proc = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        # Stopped while the process was being started: let it start, then kill it, never orphan it.
        started_proc = await asyncio.gather(spawn, return_exceptions=True)
        if isinstance(started_proc[0], asyncio.subprocess.Process):
            await _reap(started_proc[0])
        raise
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
            await _reap(proc)
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


def _git_dir(workdir: str) -> Path | None:
    """The repository git would use in ``workdir``: its ``.git``, or the workdir itself if it is bare."""
    dot_git = Path(workdir, ".git")
    if dot_git.exists() or dot_git.is_symlink():
        return dot_git
    root = Path(workdir)
    if (root / "HEAD").is_file() and (root / "objects").is_dir() and (root / "config").is_file():
        return root
    return None


def _git_preflight(workdir: str) -> None:
    """Refuse git where the repository could reach outside the workdir or run a program.

    Reads the whole configuration chain git would read for this repository (no system or global
    config: those are off): the repository's ``config`` and ``config.worktree``, a ``commondir``'s,
    linked worktrees' and submodules'; a bare workdir's own ``config``. Includes are refused rather
    than followed."""
    git_dir = _git_dir(workdir)
    if git_dir is None:
        return  # not a repository: git says so (it never looks above the workdir)
    if git_dir.is_file() or git_dir.is_symlink() or not _inside(workdir, str(git_dir)):
        raise CommandRefusedError(
            "refused: the workdir's .git points to a repository elsewhere (a worktree, submodule or "
            "symlink); git only runs on a repository stored inside the workdir"
        )
    dirs = [git_dir]
    commondir = git_dir / "commondir"
    if commondir.is_file():
        target = (git_dir / commondir.read_text(encoding="utf-8", errors="replace").strip()).resolve()
        if not _inside(workdir, str(target)):
            raise CommandRefusedError("refused: this repository's commondir points outside the workdir")
        dirs.append(target)
    for directory in list(dirs):
        alternates = directory / "objects" / "info" / "alternates"
        if alternates.is_file():
            for line in alternates.read_text(encoding="utf-8", errors="replace").splitlines():
                if (
                    line.strip()
                    and not line.startswith("#")
                    and not _inside(workdir, str(directory / "objects" / line))
                ):
                    raise CommandRefusedError(
                        "refused: this repository borrows objects from outside the workdir (objects/info/alternates)"
                    )
    configs: list[Path] = []
    for directory in dirs:
        configs += [directory / "config", directory / "config.worktree"]
        configs += [*directory.glob("worktrees/*/config.worktree"), *directory.glob("modules/**/config")]
    for path in configs:
        if path.is_symlink() or (path.exists() and not _inside(workdir, str(path))):
            raise CommandRefusedError(f"refused: {path.name} of this repository links outside the workdir")
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
    uploads = None
    if not use_sandbox and (await confinement_for(settings.terminal_confinement)).mode == "bwrap":
        uploads = _uploads_mount(settings, policy.workdir, session_id)  # only a namespace can show it
    try:
        plan = policy.check(command, mounts=uploads)
        if plan.program == "git" and not use_sandbox:
            await asyncio.to_thread(_git_preflight, policy.workdir)
    except CommandRefusedError as exc:
        logger.info("terminal: refused a command")
        logger.debug("terminal: refused %r: %s", command, exc.message)
        return CommandOutcome(command.strip(), (), None, "", False, False, 0.0, exc.message, exc.message)
    if use_sandbox:
        return await _run_in_sandbox(plan, settings, sandbox, session_id)
    return await _run_on_host(plan, settings, policy.workdir, uploads)


def _uploads_mount(settings: Settings, workdir: str, session_id: str) -> dict[str, str] | None:
    """``{"/uploads": the session's upload folder}`` when it has one (bound read-only by the
    confinement; docs/security.md, "Uploads"), else None."""
    if not session_id or workdir == UPLOADS_PATH or workdir.startswith(UPLOADS_PATH + "/"):
        return None
    where = find_upload_folder(settings.data_dir, session_id)
    return {UPLOADS_PATH: str(where)} if where is not None else None


async def _run_on_host(
    plan: CommandPlan, settings: Settings, workdir: str, uploads: dict[str, str] | None = None
) -> CommandOutcome:
    confinement = await confinement_for(settings.terminal_confinement)
    if not confinement.usable:
        reason = f"the terminal skill is disabled on this server: {confinement.reason}"
        return CommandOutcome(plan.command, (), None, "", False, False, 0.0, reason, reason)
    argv = list(plan.argv)
    if plan.program == "git" and confinement.drops_privileges:
        # the command runs as nobody on a repository the server's user owns: allow exactly this one
        argv[1:1] = ["-c", f"safe.directory={workdir}"]
    try:
        result = await run_argv(
            confinement.wrap(argv, workdir, ro_binds=[(host, inside) for inside, host in (uploads or {}).items()]),
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


async def terminal_health(settings: Settings) -> dict[str, object]:
    """For /healthz: where commands run, how they are confined, and why the skill is off if it is."""
    if settings.terminal_backend == "sandbox":
        return {"backend": "sandbox", "enabled": True}
    confinement = await confinement_for(settings.terminal_confinement)
    return {"backend": "host", "enabled": confinement.usable, **confinement.describe()}


# --- the tool --------------------------------------------------------------------------------------
async def run_terminal_command(
    deps: ToolDeps,
    command: Annotated[str, "e.g. `grep -rn TODO src`"],
) -> str:
    """Run one read-only command (ls, cat, grep, rg, find, git log...) in the workdir. No shell syntax."""
    outcome = await execute_command(command, settings=deps.settings, sandbox=deps.sandbox, session_id=deps.session_id)
    if outcome.refused is not None:
        raise CommandRefusedError(outcome.refused)
    return outcome.text


TOOLS = [run_terminal_command]
