"""Talking to the Docker engine: connect with short timeouts, create containers, read stats.

:class:`Engine` holds the connection (or the reason there is none) and runs every SDK call in a
worker thread; the module-level functions are the blocking pieces it runs there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import docker.client
import docker.errors

from ..errors import SandboxUnavailableError
from ..settings import Settings
from . import config

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
CONNECT_TIMEOUT = 3.0  # seconds for the first contact with the engine
API_TIMEOUT = 30.0  # seconds for any later engine call (create, stop, inspect, ...)
RETRY_INTERVAL = 10.0  # an unavailable engine is probed again at most this often

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Engine:
    """The connection to the Docker engine: a client, or the reason there is none."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.client: Any = None
        self.reason: str | None = "not started"
        self._last_probe = float("-inf")
        self._closed = False

    @property
    def available(self) -> bool:
        return self.client is not None

    async def probe(self) -> None:
        """(Re)connect. Never raises: failure is recorded in ``reason``."""
        self._last_probe = time.monotonic()
        self.client, self.reason = await asyncio.to_thread(connect, self._settings)
        if self.reason:
            logger.warning("sandbox: unavailable: %s", self.reason)
        else:
            logger.info("sandbox: engine ready (image %s)", self._settings.sandbox_image)

    async def require(self) -> Any:
        """The client, or SandboxUnavailableError at once (re-probing at most every RETRY_INTERVAL)."""
        if self.client is None and not self._closed and time.monotonic() - self._last_probe >= RETRY_INTERVAL:
            await self.probe()
        if self.client is None:
            raise SandboxUnavailableError(f"sandbox unavailable: {self.reason}")
        return self.client

    def mark_unavailable(self, reason: str) -> None:
        logger.warning("sandbox: unavailable: %s", reason)
        client, self.client, self.reason = self.client, None, reason
        self._last_probe = time.monotonic()
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one blocking call in a thread; connection-level failures mark the engine unavailable.

        API errors (404, 409, ...) and anything else the function raises propagate unchanged.
        """
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except docker.errors.APIError:
            raise
        except (docker.errors.DockerException, OSError) as exc:  # requests' errors are OSErrors
            self.mark_unavailable(f"docker engine error: {describe_error(exc)}")
            raise SandboxUnavailableError(f"sandbox unavailable: {self.reason}") from exc

    async def close(self, reason: str = "closed") -> None:
        """Disconnect for good: later calls fail with ``reason`` and never reconnect."""
        self._closed = True
        client, self.client, self.reason = self.client, None, reason
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(client.close)


def short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_error(exc: BaseException) -> str:
    """A short cause for a failed connection instead of urllib3's nested repr."""
    text = str(exc)
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("No such file or directory", "no such socket"),
        ("Network is unreachable", "network unreachable"),
        ("Permission denied", "permission denied"),
        ("timed out", "timed out"),
        ("Name or service not known", "unknown host"),
    ):
        if needle in text:
            return reason
    return short(exc)


def preflight(base_url: str) -> str | None:
    """Open and close one plain connection to the engine's socket; why it failed, or None.

    Cheap, bounded by CONNECT_TIMEOUT, and it closes its socket (the SDK leaks one on a failed
    connect). Schemes other than unix/tcp/http(s) are left to the SDK.
    """
    parts = urlsplit(base_url)
    try:
        if parts.scheme in ("unix", "http+unix"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            with sock:
                sock.settimeout(CONNECT_TIMEOUT)
                sock.connect(parts.path)
        elif parts.scheme in ("tcp", "http", "https") and parts.hostname:
            default = 2376 if parts.scheme == "https" else 2375
            with socket.create_connection((parts.hostname, parts.port or default), timeout=CONNECT_TIMEOUT):
                pass
    except OSError as exc:
        return describe_error(exc)
    return None


def connect(s: Settings) -> tuple[Any, str | None]:
    """A connected client, or None and why not. Fails fast: a short timeout, API version negotiated."""
    if not s.sandbox_enabled:
        return None, "disabled (SANDBOX_ENABLED=0)"
    try:
        config.parse_user(s.sandbox_user)
        config.check_network(s.sandbox_network)
        config.parse_size(s.sandbox_memory)
        config.parse_size(s.sandbox_tmpfs_size)
    except SandboxUnavailableError as exc:
        return None, exc.message.removeprefix("sandbox unavailable: ")
    base_url = s.sandbox_docker_host or DEFAULT_DOCKER_HOST
    problem = preflight(base_url)
    if problem:
        return None, f"docker engine not reachable at {base_url}: {problem}"
    try:
        client = docker.client.DockerClient(base_url=base_url, version="auto", timeout=CONNECT_TIMEOUT)
    except Exception as exc:  # the SDK raises several unrelated types here
        return None, f"docker engine not reachable at {base_url}: {describe_error(exc)}"
    try:
        client.images.get(s.sandbox_image)
    except docker.errors.ImageNotFound:
        client.close()
        return None, image_missing(s.sandbox_image)
    except Exception as exc:
        client.close()
        return None, f"docker engine error at {base_url}: {describe_error(exc)}"
    client.api.timeout = API_TIMEOUT
    return client, None


def image_missing(image: str) -> str:
    return f"image {image} not found (build it with scripts/build_sandbox_image.sh)"


def create_and_start(client: Any, kwargs: dict[str, Any]) -> str:
    """Create and start one container (blocking). A leftover with the same name is replaced."""
    try:
        container = client.containers.create(**kwargs)
    except docker.errors.APIError as exc:
        if exc.status_code != 409:  # 409: name in use by a leftover of this namespace
            raise
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(kwargs["name"], force=True)
        container = client.containers.create(**kwargs)
    try:
        container.start()
    except BaseException:
        with contextlib.suppress(Exception):
            container.remove(force=True)
        raise
    return str(container.id)


def container_gone(exc: docker.errors.APIError) -> bool:
    """404 (removed behind our back) or not running (e.g. ``kill 1`` inside): recreate or restart."""
    return exc.status_code in (404, 409) or "is not running" in str(exc)


def leftover_pids(top: dict[str, Any]) -> list[str]:
    """Host pids in a container's process table besides docker-init and the keep-alive process.

    ``top`` is the engine's ``GET /containers/{id}/top`` answer (``ps -ef`` columns). Zombies are
    left out: they are already dead and docker-init reaps them.
    """
    titles = top.get("Titles") or []
    if not {"PID", "PPID", "CMD"} <= set(titles):
        return []
    rows = [dict(zip(titles, row, strict=False)) for row in top.get("Processes") or []]
    init = next((r["PID"] for r in rows if r["CMD"].startswith("/sbin/docker-init")), None)
    keepalive = " ".join(config.KEEPALIVE)
    ours = {init} | {r["PID"] for r in rows if r["PPID"] == init and r["CMD"] == keepalive}
    return [r["PID"] for r in rows if r["PID"] not in ours and "<defunct>" not in r["CMD"]]


def summarize_stats(raw: dict[str, Any]) -> dict[str, object]:
    cpu = raw.get("cpu_stats") or {}
    pre = raw.get("precpu_stats") or {}
    cpu_delta = cpu.get("cpu_usage", {}).get("total_usage", 0) - pre.get("cpu_usage", {}).get("total_usage", 0)
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    online = cpu.get("online_cpus") or len(cpu.get("cpu_usage", {}).get("percpu_usage") or []) or 1
    cpu_percent = (cpu_delta / system_delta) * online * 100.0 if cpu_delta > 0 and system_delta > 0 else 0.0
    memory = raw.get("memory_stats") or {}
    mem_stats = memory.get("stats") or {}
    # Page cache does not count as use: cgroup v1 reports it as "cache", v2 as "inactive_file".
    cache = mem_stats.get("total_inactive_file", mem_stats.get("inactive_file", mem_stats.get("cache", 0)))
    usage = max(int(memory.get("usage", 0)) - int(cache), 0)
    return {
        "cpu_percent": round(cpu_percent, 2),
        "memory_usage": usage,
        "memory_limit": int(memory.get("limit", 0)),
        "pids": int((raw.get("pids_stats") or {}).get("current", 0)),
    }
