"""Who runs which session when several processes share one PostgreSQL database.

Each process has an instance id. A session's turns run in exactly one process, the owner of its
lease (``store.leases``): a process that loads a session claims the lease when nobody live holds
it, renews every lease it holds from one heartbeat (one UPDATE for all of them), and releases a
lease when it lets a session go. A process that loads a session someone else owns keeps a
follower: its clients get the owner's events through LISTEN/NOTIFY and a re-read of the table,
and what they send (message, stop, answer, and events a follower would emit) becomes a command
row for the owner. When the owner's lease expires (the process died), a follower with watchers,
the next command, or the reminder scheduler claims it; the new owner closes the interrupted turn
and runs what is queued.

With SQLite there is one process: every session is owned locally (a local lease), nothing is
renewed, announced or fenced.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from typing import TYPE_CHECKING

from ..store import Listener, Store
from ..tasks import cancel_and_wait

if TYPE_CHECKING:
    from .registry import SessionRegistry
    from .session import Session

logger = logging.getLogger(__name__)

#: How often followers with watchers check whether their owner's lease expired (takeover latency).
WATCH_INTERVAL = 0.5


def new_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"


class Coordinator:
    def __init__(self, store: Store, *, instance_id: str, lease_seconds: float) -> None:
        self.store = store
        self.instance_id = instance_id
        self.lease_seconds = lease_seconds
        self.shared = store.shared
        self.registry: SessionRegistry | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: Listener | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.takeovers = 0
        self.leases_lost = 0
        self.errors = 0
        self.commands_sent = 0

    # --- leases -----------------------------------------------------------------------------------
    async def claim(self, session_id: str) -> int | None:
        """The epoch this process now holds for the session (0: local lease), or None: another owner."""
        if not self.shared:
            return 0
        return await self.store.leases.claim(session_id, self.instance_id, self.lease_seconds)

    async def release(self, session_id: str, epoch: int | None) -> None:
        if self.shared and epoch is not None:
            await self.store.leases.release(session_id, self.instance_id, epoch)

    async def try_promote(self, session: Session) -> bool:
        """Make this process the session's owner if nobody live holds it. True when it is ours."""
        if session.owned:
            return True
        async with session.promote_lock:
            if session.owned:
                return True
            epoch = await self.claim(session.id)
            if epoch is None:
                return False
            self.takeovers += 1
            logger.info("session %s: taking over (epoch %d)", session.id, epoch)
            await session.become_owner(epoch)
            return True

    # --- background work --------------------------------------------------------------------------
    def start(self, registry: SessionRegistry) -> None:
        self.registry = registry
        if not self.shared:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._heartbeat(), name="lease-heartbeat"),
            loop.create_task(self._watch(), name="lease-watch"),
        ]
        self._listener = self.store.listener(
            on_event=self._on_event, on_command=self._on_command, on_connect=self._on_connect
        )
        if self._listener is not None:
            self._listener.start()

    async def wait_listening(self) -> None:
        if self._listener is not None:
            await self._listener.connected.wait()

    async def stop(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
        await cancel_and_wait(*self._tasks, *self._background)
        self._tasks = []

    def spawn(self, coro: object, name: str) -> None:
        """Run ``coro`` in the background, owned (cancelled at stop) and with errors logged and counted."""

        async def run() -> None:
            try:
                await coro  # type: ignore[misc]
            except asyncio.CancelledError:
                raise
            except Exception:
                self.errors += 1
                logger.exception("%s failed", name)

        task = asyncio.get_running_loop().create_task(run(), name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            assert self.registry is not None
            # Only sessions claimed before the renewal started: one claimed meanwhile is not in its answer.
            owned = self.registry.owned()
            try:
                held = await self.store.leases.renew(self.instance_id, self.lease_seconds)
            except Exception:
                self.errors += 1
                logger.exception("lease heartbeat failed")
                continue
            for session in owned:
                if not session.owned:
                    continue
                if held.get(session.id) != session.channel.epoch:
                    self.leases_lost += 1
                    logger.warning("session %s: lease lost to another process", session.id)
                    session.lease_lost()

    async def _watch(self) -> None:
        """Followers with watchers take over as soon as their owner's lease has expired."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            assert self.registry is not None
            followers = {s.id: s for s in self.registry.watched_followers()}
            try:
                orphaned = await self.store.leases.unowned(list(followers))  # one query for all of them
            except Exception:
                self.errors += 1
                logger.exception("lease watch failed")
                continue
            for session_id in orphaned:
                try:
                    await self.try_promote(followers[session_id])
                except Exception:
                    self.errors += 1
                    logger.exception("session %s: takeover failed", session_id)

    # --- notifications ----------------------------------------------------------------------------
    def _on_event(self, session_id: str, seq: int) -> None:
        assert self.registry is not None
        session = self.registry.live(session_id)
        if session is not None and not session.owned and seq > session.channel.last_seq:
            self.spawn(session.catch_up(), f"catch-up-{session_id}")

    def _on_command(self, session_id: str) -> None:
        assert self.registry is not None
        session = self.registry.live(session_id)
        if session is not None and session.owned:
            self.spawn(session.run_commands(), f"commands-{session_id}")

    def _on_connect(self) -> None:
        """(Re)connected: notifications may have been missed; re-read what we follow and own."""
        assert self.registry is not None
        for session in self.registry.all_live():
            if session.owned:
                self.spawn(session.run_commands(), f"commands-{session.id}")
            else:
                self.spawn(session.catch_up(), f"catch-up-{session.id}")

    async def dispatch(self, session_id: str) -> None:
        """Commands were queued for a session (reminder): run them here if we own or can claim it."""
        assert self.registry is not None
        session = await self.registry.get(session_id)
        if await self.try_promote(session):
            await session.run_commands()

    def health(self) -> dict[str, object]:
        assert self.registry is not None
        data: dict[str, object] = {
            "instance": self.instance_id,
            "shared": self.shared,
            "lease_seconds": self.lease_seconds,
            "owned": sum(1 for _ in self.registry.owned()),
            "followed": sum(1 for s in self.registry.all_live() if not s.owned),
            "takeovers": self.takeovers,
            "leases_lost": self.leases_lost,
            "errors": self.errors,
            "commands_sent": self.commands_sent,
        }
        if self._listener is not None:
            data["listener"] = {
                "connected": self._listener.connected.is_set(),
                "received": self._listener.received,
                "reconnects": self._listener.reconnects,
                "errors": self._listener.errors,
            }
        return data
