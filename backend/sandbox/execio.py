"""Blocking exec I/O for one command in a sandbox container (run in a worker thread).

The exec's hijacked socket is read frame by frame with a short poll, so the worker notices its
deadline, the output cap and cancellation whatever the command does. Killing escalates:

1. ``timeout -s KILL`` inside the container kills the command's process group at the deadline;
2. ``GRACE`` seconds later, if the stream is still open (a child left the group and holds the
   pipe), a second exec SIGKILLs every process carrying this exec's marker variable;
3. if that exec cannot start (the pids limit is exhausted) or the stream is still open after
   another ``GRACE``, the container's keep-alive shell is sent SIGUSR1 and kills every process
   but itself and init (:data:`~backend.sandbox.config.KEEPALIVE`); no fork is needed for that;
4. after one more ``GRACE`` the stream is dropped and the call returns regardless.

What a command leaves running after it returns is swept by the manager (see
``SandboxManager._sweep``), so a detached fork bomb cannot outlive the call that started it.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .config import BASE_ENV, DRAIN_LIMIT, EXEC_MARKER, PANIC_SIGNAL, WORKDIR, kill_command, wrap_command

logger = logging.getLogger(__name__)

POLL = 0.1  # seconds between deadline checks while the stream is quiet
GRACE = 1.0  # seconds between kill escalation steps
_HEADER = struct.Struct(">BxxxL")
_STDERR = 2
_ERR_LIMIT = 4096
#: What the engine (exit 126) or our ``timeout`` wrapper (exit 125) writes when the process could
#: not be spawned at all: the pids limit is exhausted or the container is stopping.
_START_FAILED = (b"OCI runtime exec failed", b"cannot exec in a stopped state", b"timeout: fork system call failed")


class ExecStartError(Exception):
    """The engine could not start the process: the pids limit is exhausted or the container stopped."""


@dataclass
class Capture:
    """Output kept while reading: merged stdout+stderr, or stdout and a short stderr apart."""

    limit: int
    split: bool = False
    out: bytearray = field(default_factory=bytearray)
    err: bytearray = field(default_factory=bytearray)
    seen: int = 0  # bytes counted against ``limit`` (stdout only when split)
    truncated: bool = False

    def feed(self, stream: int, data: bytes) -> None:
        if self.split and stream == _STDERR:
            room = _ERR_LIMIT - len(self.err)
            if room > 0:
                self.err += data[:room]
            return
        self.seen += len(data)
        room = self.limit - len(self.out)
        if room > 0:
            self.out += data[:room]
        if self.seen > self.limit:
            self.truncated = True

    @property
    def flooded(self) -> bool:
        """Output past the cap is drained and dropped; this much more and the command is killed."""
        return self.seen > self.limit + DRAIN_LIMIT


@dataclass(frozen=True)
class ExecResult:
    """What a command in the sandbox did. ``output`` is stdout+stderr, capped, with a visible marker."""

    exit_code: int | None
    output: str
    truncated: bool
    timed_out: bool
    duration: float


@dataclass(frozen=True)
class RawResult:
    exit_code: int | None
    out: bytes
    err: bytes
    truncated: bool
    timed_out: bool
    duration: float


def panic(api: Any, container_id: str) -> None:
    """Kill every process in the container except init and the keep-alive shell. Needs no fork."""
    try:
        api.kill(container_id, signal=PANIC_SIGNAL)
        logger.info("sandbox: killed every process in %s", container_id[:12])
    except Exception as exc:
        logger.warning("sandbox: could not signal %s: %s", container_id[:12], exc)


def kill_marked(api: Any, container_id: str, token: str, user: str) -> None:
    """Start the marker killer, detached (the caller keeps draining the killed command's stream).

    When the killer cannot even be started, fall back to :func:`panic`.
    """
    try:
        exec_id = api.exec_create(container_id, kill_command(token), stdout=False, stderr=False, user=user)["Id"]
        api.exec_start(exec_id, detach=True)
    except Exception as exc:
        logger.warning("sandbox: killer exec failed in %s (%s); killing everything", container_id[:12], exc)
        panic(api, container_id)


def run_exec(
    api: Any,
    container_id: str,
    command: list[str] | str,
    *,
    timeout: float,
    limit: int,
    user: str,
    stdin: bytes | None = None,
    split: bool = False,
    cancel: threading.Event | None = None,
) -> RawResult:
    """Run one command to completion, timeout, output flood or cancellation. Blocking.

    Raises only before the command ran: the SDK's errors from exec create/start, or
    :class:`ExecStartError` when the engine could not spawn the process. Both are safe to retry.
    """
    token = uuid.uuid4().hex
    started = time.monotonic()
    exec_id = api.exec_create(
        container_id,
        wrap_command(command, timeout),
        stdout=True,
        stderr=True,
        stdin=stdin is not None,
        tty=False,
        environment={**BASE_ENV, EXEC_MARKER: token},
        workdir=WORKDIR,
        user=user,
    )["Id"]
    sock = api.exec_start(exec_id, socket=True)
    raw = getattr(sock, "_sock", None) or sock  # the real socket under docker-py's SocketIO
    capture = Capture(limit=limit, split=split)
    step, step_at = 0, 0.0  # kill escalation: 0 none, 1 marker killer, 2 panic
    timed_out = abandoned = False
    try:
        if stdin is not None:
            _send_stdin(raw, stdin, timeout)
        raw.settimeout(POLL)
        pending = bytearray()
        while True:
            now = time.monotonic()
            if step == 0:
                reason = None
                if now - started > timeout + GRACE:
                    timed_out, reason = True, "timeout"
                elif capture.flooded:
                    reason = "output flood"
                elif cancel is not None and cancel.is_set():
                    reason = "cancelled"
                if reason is not None:
                    logger.info("sandbox: killing exec in %s (%s)", container_id[:12], reason)
                    kill_marked(api, container_id, token, user)
                    step, step_at = 1, time.monotonic()
            elif now - step_at > GRACE:
                if step == 2:
                    logger.warning("sandbox: exec in %s still open after kill; dropping it", container_id[:12])
                    abandoned = True
                    break
                panic(api, container_id)
                step, step_at = 2, time.monotonic()
            try:
                chunk = raw.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:  # the engine dropped the stream: report what we have
                logger.warning("sandbox: exec stream in %s failed: %s", container_id[:12], exc)
                break
            if not chunk:
                break
            pending += chunk
            while len(pending) >= _HEADER.size:
                stream, size = _HEADER.unpack_from(pending)
                if len(pending) < _HEADER.size + size:
                    break
                capture.feed(stream, bytes(pending[_HEADER.size : _HEADER.size + size]))
                del pending[: _HEADER.size + size]
    finally:
        for obj in (raw, sock):
            try:
                obj.close()
            except Exception:  # noqa: S112 - best effort on a socket we are done with
                continue
    duration = time.monotonic() - started
    exit_code = None if abandoned else _exit_code(api, exec_id)
    both = bytes(capture.out + capture.err)
    if exit_code in (125, 126) and both.startswith(_START_FAILED):
        raise ExecStartError(_decode_line(both))
    # The in-container timeout SIGKILLs its group (itself included): 137 at or after the deadline.
    if exit_code in (124, 137) and duration >= timeout:
        timed_out = True
    return RawResult(
        exit_code=exit_code,
        out=bytes(capture.out),
        err=bytes(capture.err),
        truncated=capture.truncated,
        timed_out=timed_out,
        duration=duration,
    )


def decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def to_result(raw: RawResult, limit: int) -> ExecResult:
    """The public result: decoded output with the truncation marker appended."""
    output = decode(raw.out)
    if raw.truncated:
        output += ("" if output.endswith("\n") or not output else "\n") + f"[output truncated at {limit} bytes]"
    return ExecResult(
        exit_code=raw.exit_code,
        output=output,
        truncated=raw.truncated,
        timed_out=raw.timed_out,
        duration=round(raw.duration, 3),
    )


def _decode_line(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").strip().splitlines()[0][:200]


def _send_stdin(raw: Any, data: bytes, timeout: float) -> None:
    """Write the command's stdin and half-close it. A command that exits without reading is not an error."""
    try:
        raw.settimeout(max(timeout, 1.0))
        raw.sendall(data)
        raw.shutdown(socket.SHUT_WR)  # EOF on the command's stdin
    except OSError as exc:
        logger.debug("sandbox: stdin not fully delivered: %s", exc)


def _exit_code(api: Any, exec_id: str) -> int | None:
    """The exec's exit code; the engine may report it a moment after the stream closes."""
    for _ in range(40):
        try:
            info = api.exec_inspect(exec_id)
        except Exception as exc:  # container removed meanwhile (reset, delete): the code is lost
            logger.debug("sandbox: exec_inspect failed: %s", exc)
            return None
        if not info.get("Running") and info.get("ExitCode") is not None:
            return int(info["ExitCode"])
        time.sleep(0.025)
    return None
