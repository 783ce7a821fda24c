"""SandboxManager: one hardened Docker container per chat session.

Containers are created lazily on a session's first sandbox call, reused for the session, stopped
by a background reaper after ``SANDBOX_IDLE_SECONDS`` without use, removed when the session is
deleted (:meth:`SandboxManager.remove`) and at shutdown (:meth:`SandboxManager.close`). Every
container carries labels naming this server's namespace, so containers left behind by a crashed
server are removed at the next start (:meth:`SandboxManager.cleanup_orphans`).

Every Docker SDK call runs in a worker thread. A missing engine or image never stops the server:
:meth:`health` reports it and every sandbox call raises
:class:`~backend.errors.SandboxUnavailableError` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors

from ..errors import SandboxUnavailableError, ToolError
from ..settings import Settings
from ..tasks import cancel_and_wait
from . import config, copyin, engine
from .execio import GRACE, ExecResult, ExecStartError, RawResult, decode, panic, run_exec, to_result

logger = logging.getLogger(__name__)

__all__ = ["ExecResult", "SandboxManager"]

_FILE_OP_ERR_LIMIT = 4096


def _open_event() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


#: how many deleted session ids a manager remembers (see SandboxManager._deleted)
DELETED_KEPT = 100_000


@dataclass
class _Box:
    """Our record of one session's container."""

    container_id: str
    running: bool
    started: float  # time.monotonic() of the last start
    last_used: float
    active: int = 0  # execs in flight; the reaper leaves busy containers alone
    gate: asyncio.Event = field(default_factory=_open_event)  # closed while sweeping


class SandboxManager:
    """Owns every sandbox container of one server instance."""

    def __init__(
        self,
        settings: Settings,
        *,
        instance_id: str | None = None,
        namespace: str | None = None,
        live_instances: Callable[[], Awaitable[set[str]]] | None = None,
        uploads: Callable[[str], Sequence[tuple[str, Path, int]]] | None = None,
    ) -> None:
        """``live_instances``: in a cluster, the server processes that still hold a session lease;
        orphan clean-up leaves their containers alone (the namespace is then the cluster's).
        ``uploads``: a session's uploaded files ``(name, host path, size)``, copied into its
        container whenever the container starts (its tmpfs starts empty)."""
        self._settings = settings
        self.instance_id = instance_id or uuid.uuid4().hex[:12]
        self.namespace = namespace or config.namespace_for(settings.data_dir)
        self._live_instances = live_instances
        self._uploads = uploads
        self.copy_errors = 0
        self._engine = engine.Engine(settings)
        self._boxes: dict[str, _Box] = {}
        self._starting = 0  # containers being created right now (they count against the limit)
        self.refused_at_limit = 0
        self._locks: dict[str, asyncio.Lock] = {}
        #: sessions deleted in this process (insertion-ordered, capped): never given a container again,
        #: so an exec that races the delete cannot recreate one after it was removed
        self._deleted: dict[str, None] = {}
        self._reaper: asyncio.Task[None] | None = None

    @property
    def settings(self) -> Settings:
        return self._settings

    # --- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect to the engine (tolerating its absence), remove orphans, start the idle reaper."""
        await self._engine.probe()
        if self._engine.available:
            await self.cleanup_orphans()
        if self._reaper is None and self._settings.sandbox_enabled:
            self._reaper = asyncio.create_task(self._reap_loop(), name="sandbox-reaper")

    async def close(self) -> None:
        """Stop the reaper and remove every container this instance created."""
        reaper, self._reaper = self._reaper, None
        await cancel_and_wait(reaper)
        if self._engine.available:
            await asyncio.gather(*(self.remove(sid) for sid in list(self._boxes)), return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._remove_instance_leftovers()
        await self._engine.close()
        self._boxes.clear()
        self._locks.clear()

    async def cleanup_orphans(self) -> int:
        """Remove every container of this namespace that this instance does not own and whose
        owning process is gone (in a cluster: holds no lease); return how many."""
        if not self._engine.available:
            return 0
        containers = await self._engine.call(
            self._engine.client.containers.list, all=True, filters=config.namespace_filter(self.namespace)
        )
        ours = {box.container_id for box in self._boxes.values()}
        live = await self._live_instances() if self._live_instances is not None else set()
        live.discard(self.instance_id)  # ours that are not recorded are leftovers: remove them
        orphans = [
            c for c in containers if c.id not in ours and (c.labels or {}).get(config.LABEL_INSTANCE) not in live
        ]
        for container in orphans:
            with contextlib.suppress(docker.errors.NotFound):
                await self._engine.call(container.remove, force=True)
        if orphans:
            logger.info("sandbox: removed %d orphaned container(s) of namespace %s", len(orphans), self.namespace)
        return len(orphans)

    async def _remove_instance_leftovers(self) -> None:
        """Containers labelled with this instance but not recorded (creation interrupted by cancellation)."""
        filters = config.namespace_filter(self.namespace)
        filters["label"].append(f"{config.LABEL_INSTANCE}={self.instance_id}")
        for container in await self._engine.call(self._engine.client.containers.list, all=True, filters=filters):
            with contextlib.suppress(docker.errors.NotFound):
                await self._engine.call(container.remove, force=True)

    def health(self) -> dict[str, object]:
        """For /healthz. Never touches the engine."""
        return {
            "available": self._engine.available,
            "reason": self._engine.reason,
            "image": self._settings.sandbox_image,
            "containers": sum(1 for box in self._boxes.values() if box.running),
            "max_containers": self._settings.sandbox_max_containers,
            "refused_at_limit": self.refused_at_limit,
            "copy_errors": self.copy_errors,
            "namespace": self.namespace,
            "network": self._settings.sandbox_network,
            "runtime": self._settings.sandbox_runtime or "default",
        }

    # --- commands ---------------------------------------------------------------------------------
    async def exec(self, session_id: str, command: list[str] | str, *, timeout: float | None = None) -> ExecResult:
        """Run a command (a string goes through ``/bin/sh -c``, a list is argv) in the session's container."""
        limit = self._settings.sandbox_output_limit
        raw = await self._run(session_id, command, timeout=timeout, limit=limit, sweep=True)
        return to_result(raw, limit)

    async def run_python(self, session_id: str, code: str, *, timeout: float | None = None) -> ExecResult:
        """Run Python source with ``python3 -`` (the code arrives on stdin, so its size is not an argv limit)."""
        limit = self._settings.sandbox_output_limit
        raw = await self._run(
            session_id, ["python3", "-"], timeout=timeout, limit=limit, stdin=code.encode(), sweep=True
        )
        return to_result(raw, limit)

    async def write_file(self, session_id: str, path: str, content: str) -> str:
        """Write text to a file under the working directory (parents created); return its absolute path."""
        target = config.resolve_path(path)
        raw = await self._run(
            session_id,
            ["/bin/sh", "-c", config.WRITE_SCRIPT, "sh", target],
            timeout=None,
            limit=_FILE_OP_ERR_LIMIT,
            stdin=content.encode("utf-8"),
            split=True,
        )
        if raw.exit_code != 0:
            detail = decode(raw.err or raw.out).strip() or f"exit {raw.exit_code}"
            raise ToolError(f"could not write {target}: {detail}")
        return target

    async def read_file(self, session_id: str, path: str, *, limit: int | None = None) -> tuple[str, bool]:
        """Read up to ``limit`` bytes (default SANDBOX_OUTPUT_LIMIT) of a file; return (text, truncated)."""
        target = config.resolve_path(path)
        cap = limit if limit is not None and limit > 0 else self._settings.sandbox_output_limit
        raw = await self._run(
            session_id,
            ["/bin/sh", "-c", config.READ_SCRIPT, "sh", target, str(cap + 1)],
            timeout=None,
            limit=cap,
            split=True,
        )
        if raw.exit_code != 0:
            detail = decode(raw.err).strip() or f"exit {raw.exit_code}"
            raise ToolError(f"could not read {target}: {detail}")
        return decode(raw.out), raw.truncated

    # --- inspection -------------------------------------------------------------------------------
    async def status(self, session_id: str) -> dict[str, object]:
        """State of the session's container; ``"absent"`` (nothing is created) when it has none."""
        info: dict[str, object] = {
            "state": "absent",
            "available": self._engine.available,
            "reason": self._engine.reason,
            "image": self._settings.sandbox_image,
            "limits": config.limits(self._settings),
        }
        box = self._boxes.get(session_id)
        if box is None:
            return info
        if not self._engine.available:
            info.update(state="unavailable", container=box.container_id[:12])
            return info
        try:
            attrs = await self._engine.call(self._engine.client.api.inspect_container, box.container_id)
        except docker.errors.NotFound:
            self._boxes.pop(session_id, None)
            return info
        running = bool(attrs["State"].get("Running"))
        box.running = running
        now = time.monotonic()
        info.update(
            state="running" if running else "stopped",
            container=box.container_id[:12],
            uptime=round(now - box.started, 1) if running else 0.0,
            idle=round(now - box.last_used, 1),
        )
        return info

    async def stats(self, session_id: str) -> dict[str, object]:
        """CPU %, memory usage/limit and process count of the session's container (takes about a second)."""
        box = self._boxes.get(session_id)
        if box is None or not self._engine.available:
            return {"state": "absent"}
        if not box.running:
            return {"state": "stopped"}
        try:
            raw = await self._engine.call(self._engine.client.api.stats, box.container_id, stream=False)
        except docker.errors.NotFound:
            self._boxes.pop(session_id, None)
            return {"state": "absent"}
        return {"state": "running", **engine.summarize_stats(raw)}

    async def logs(self, session_id: str, tail: int = 200) -> str:
        """The container's own stdout/stderr (its main process, not the execs); empty when absent."""
        box = self._boxes.get(session_id)
        if box is None or not self._engine.available:
            return ""
        try:
            data = await self._engine.call(self._engine.client.api.logs, box.container_id, tail=max(tail, 0) or "all")
        except docker.errors.NotFound:
            return ""
        return decode(data)

    # --- per-session container lifecycle ----------------------------------------------------------
    async def reset(self, session_id: str) -> dict[str, object]:
        """Throw the session's container away and start a fresh one; return its status."""
        await self.remove(session_id)
        await self._ensure(session_id)
        return await self.status(session_id)

    async def remove(self, session_id: str, *, deleted: bool = False) -> None:
        """Remove the session's container (no-op when it has none). ``deleted``: the session itself
        is gone; a call still running for it fails instead of starting a new container."""
        async with self._lock(session_id):
            if deleted:
                self._deleted[session_id] = None
                if len(self._deleted) > DELETED_KEPT:
                    del self._deleted[next(iter(self._deleted))]
            box = self._boxes.pop(session_id, None)
            if box is None or not self._engine.available:
                return
            with contextlib.suppress(docker.errors.NotFound):
                await self._engine.call(self._engine.client.api.remove_container, box.container_id, force=True)
            logger.info("sandbox: removed container %s", box.container_id[:12])

    async def reap_idle(self) -> int:
        """Stop running containers idle for SANDBOX_IDLE_SECONDS; return how many were stopped."""
        idle = self._settings.sandbox_idle_seconds
        stopped = 0
        for session_id, box in list(self._boxes.items()):
            if not box.running or box.active or time.monotonic() - box.last_used < idle:
                continue
            async with self._lock(session_id):
                if self._boxes.get(session_id) is not box or box.active or not box.running:
                    continue
                with contextlib.suppress(docker.errors.NotFound):
                    await self._engine.call(self._engine.client.api.stop, box.container_id, timeout=1)
                box.running = False
                stopped += 1
                logger.info("sandbox: stopped idle container %s", box.container_id[:12])
        return stopped

    async def _reap_loop(self) -> None:
        interval = min(max(self._settings.sandbox_idle_seconds / 4, 0.25), 30.0)
        while True:
            await asyncio.sleep(interval)
            if not self._engine.available:
                continue
            try:
                await self.reap_idle()
            except Exception:
                logger.exception("sandbox: idle reaper failed")

    def _lock(self, session_id: str) -> asyncio.Lock:
        return self._locks.setdefault(session_id, asyncio.Lock())

    async def _ensure(self, session_id: str) -> _Box:
        """The session's running container, created or restarted as needed."""
        client = await self._engine.require()
        async with self._lock(session_id):
            if session_id in self._deleted:
                raise SandboxUnavailableError("sandbox unavailable: the session was deleted")
            box = self._boxes.get(session_id)
            if box is not None and box.running:
                return box
            if box is not None:
                try:
                    await self._engine.call(client.api.start, box.container_id)
                    box.running, box.started = True, time.monotonic()
                    await self._seed(client, box, session_id)
                    return box
                except docker.errors.NotFound:
                    self._boxes.pop(session_id, None)
            limit = self._settings.sandbox_max_containers
            if sum(1 for b in self._boxes.values() if b.running) + self._starting >= limit:
                self.refused_at_limit += 1
                raise SandboxUnavailableError(
                    f"sandbox unavailable: {limit} sandboxes are already running on this server "
                    "(SANDBOX_MAX_CONTAINERS); try again when another session's sandbox has gone idle"
                )
            kwargs = config.container_kwargs(
                self._settings, namespace=self.namespace, instance_id=self.instance_id, session_id=session_id
            )
            self._starting += 1
            try:
                container_id = await self._engine.call(engine.create_and_start, client, kwargs)
            except docker.errors.ImageNotFound as exc:
                self._engine.mark_unavailable(engine.image_missing(self._settings.sandbox_image))
                raise SandboxUnavailableError(f"sandbox unavailable: {self._engine.reason}") from exc
            except docker.errors.APIError as exc:
                reason = f"could not start container: {engine.short(exc)}"
                raise SandboxUnavailableError(f"sandbox unavailable: {reason}") from exc
            finally:
                self._starting -= 1
            now = time.monotonic()
            box = _Box(container_id=container_id, running=True, started=now, last_used=now)
            self._boxes[session_id] = box
            logger.info("sandbox: started container %s", container_id[:12])
            await self._seed(client, box, session_id)
            return box

    # --- uploads: copied in, never mounted (sandbox/copyin.py) -------------------------------------
    async def copy_in(self, session_id: str, files: Sequence[tuple[str, Path, int]]) -> bool:
        """Copy host files into the session's running container under ``uploads/``; False (nothing
        done) when it has no running container: a container copies every upload when it starts."""
        if not self._engine.available or not files:
            return False
        client = await self._engine.require()
        async with self._lock(session_id):
            box = self._boxes.get(session_id)
            if box is None or not box.running:
                return False
            await self._copy(client, box, files)
            return True

    async def _seed(self, client: Any, box: _Box, session_id: str) -> None:
        """A container (re)started: copy the session's uploads in. A failure is logged and counted;
        the container stays usable."""
        if self._uploads is None:
            return
        try:
            files = await asyncio.to_thread(self._uploads, session_id)
            if files:
                await self._copy(client, box, files)
        except Exception:
            self.copy_errors += 1
            logger.exception("sandbox: could not copy the uploads of session %s into its container", session_id)

    async def _copy(self, client: Any, box: _Box, files: Sequence[tuple[str, Path, int]]) -> None:
        uid, gid = config.parse_user(self._settings.sandbox_user)
        for batch in copyin.batches(files):
            data = await asyncio.to_thread(copyin.archive, "uploads", batch, uid=uid, gid=gid)
            await self._engine.call(copyin.copy_into, client.api, box.container_id, data, user=f"{uid}:{gid}")

    async def _run(
        self,
        session_id: str,
        command: list[str] | str,
        *,
        timeout: float | None,
        limit: int,
        stdin: bytes | None = None,
        split: bool = False,
        sweep: bool = False,
    ) -> RawResult:
        """Run in the session's container, recovering once from a stopped, removed or pids-exhausted
        container. ``sweep``: afterwards kill whatever the command left running."""
        seconds = timeout if timeout is not None and timeout > 0 else self._settings.sandbox_timeout
        user = self._settings.sandbox_user
        for attempt in range(2):
            box = await self._ensure(session_id)
            client = await self._engine.require()
            cancel = threading.Event()
            box.active += 1  # counted before the gate, with no await in between (see _sweep)
            try:
                await box.gate.wait()
                box.last_used = time.monotonic()
                raw = await asyncio.wait_for(
                    self._engine.call(
                        run_exec,
                        client.api,
                        box.container_id,
                        command,
                        timeout=seconds,
                        limit=limit,
                        user=user,
                        stdin=stdin,
                        split=split,
                        cancel=cancel,
                    ),
                    timeout=seconds + 4 * GRACE + engine.API_TIMEOUT,
                )
                if sweep:
                    await self._sweep(client, box)
                return raw
            except ExecStartError as exc:
                if attempt:
                    raise SandboxUnavailableError(f"sandbox unavailable: exec failed: {exc}") from exc
                logger.warning("sandbox: could not start a process in %s (%s)", box.container_id[:12], exc)
                await self._recover(client, box, exc)
            except docker.errors.APIError as exc:
                # Raised only before the command ran (exec create/start): safe to retry once.
                if attempt or not engine.container_gone(exc):
                    raise SandboxUnavailableError(f"sandbox unavailable: exec failed: {engine.short(exc)}") from exc
                logger.info("sandbox: container %s gone or stopped; recreating", box.container_id[:12])
                if isinstance(exc, docker.errors.NotFound):
                    self._boxes.pop(session_id, None)
                else:
                    box.running = False
            except TimeoutError as exc:
                raise SandboxUnavailableError("sandbox unavailable: the docker engine stopped answering") from exc
            finally:
                cancel.set()  # no-op when finished; stops the worker when we were cancelled or gave up
                box.active -= 1
                box.last_used = time.monotonic()
        raise AssertionError("unreachable")

    async def _sweep(self, client: Any, box: _Box) -> None:
        """Kill what finished commands left running, when no other call is in flight in the container.

        Background processes do not outlive the command that started them. The gate is closed
        before the first await, so no exec can start while the keep-alive kills everything; a call
        that finishes while others run skips the sweep and the next quiet call does it.
        """
        if box.active != 1 or not box.gate.is_set():
            return
        box.gate.clear()
        try:
            for attempt in range(40):
                try:
                    top = await self._engine.call(client.api.top, box.container_id)
                except docker.errors.APIError as exc:  # stopped meanwhile, or a runtime without `top`
                    logger.debug("sandbox: cannot list processes of %s: %s", box.container_id[:12], exc)
                    return
                if not engine.leftover_pids(top):
                    return
                if attempt == 0:
                    logger.info("sandbox: killing processes left running in %s", box.container_id[:12])
                    await self._engine.call(panic, client.api, box.container_id)
                await asyncio.sleep(0.05)
            logger.warning("sandbox: processes left running in %s survived the sweep", box.container_id[:12])
        finally:
            box.gate.set()

    async def _recover(self, client: Any, box: _Box, reason: ExecStartError) -> None:
        """After a failed process start: restart a stopped container, else free its pids."""
        try:
            attrs = await self._engine.call(client.api.inspect_container, box.container_id)
        except docker.errors.NotFound:
            box.running = False
            return
        if "stopped state" in str(reason):  # PID 1 is exiting (e.g. `kill 1` inside): let it finish
            for _ in range(40):
                if not attrs["State"].get("Running"):
                    break
                await asyncio.sleep(0.05)
                attrs = await self._engine.call(client.api.inspect_container, box.container_id)
        if attrs["State"].get("Running"):
            await self._engine.call(panic, client.api, box.container_id)
            await asyncio.sleep(0.1)
        else:
            box.running = False  # _ensure starts it again
