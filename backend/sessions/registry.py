"""The session registry: session id -> live Session, loaded lazily, evicted when idle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from ..errors import SessionNotFoundError
from ..identity.principal import ANONYMOUS, DEFAULT_TENANT, Principal
from ..tasks import cancel_and_wait
from .services import Services
from .session import Session
from .uploads import remove_all as remove_uploads

logger = logging.getLogger(__name__)

SWEEP_INTERVAL = 30.0


def owner_of(caller: Principal | None) -> tuple[str, str | None]:
    """The (tenant, user) a new session of ``caller`` belongs to."""
    if caller is None or caller is ANONYMOUS:
        return DEFAULT_TENANT, None
    return caller.tenant, caller.user_id


class SessionRegistry:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._live: dict[str, Session] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._loading: dict[str, asyncio.Task[Session]] = {}
        #: one lifecycle change (delete, reset) at a time per session; get() waits for it to finish
        self._locks: dict[str, asyncio.Lock] = {}
        self._changing: dict[str, asyncio.Future[None]] = {}
        self.sandbox_removal_errors = 0

    # --- lookup ---------------------------------------------------------------------------------------
    def live(self, session_id: str) -> Session | None:
        """The session if it is loaded in this process."""
        return self._live.get(session_id)

    async def get(self, session_id: str, caller: Principal | None = None) -> Session:
        """The live session, loaded from the store if needed. Raises SessionNotFoundError, also when
        ``caller`` may not see it (exactly as for an id that does not exist: no existence leak).

        While the session is being deleted or reset, waits for that to finish (so a deleted session
        is never reloaded as a zombie, and a reset one is the fresh one)."""
        while (change := self._changing.get(session_id)) is not None:
            await asyncio.shield(change)
        if caller is not None and session_id not in self._live:
            row = await self.services.store.sessions.get(session_id)
            if row is not None and not caller.may_see(row.tenant, row.owner):
                raise SessionNotFoundError(f"unknown session {session_id!r}")
        session = await self._get(session_id)
        if caller is not None and not caller.may_see(session.tenant, session.owner):
            raise SessionNotFoundError(f"unknown session {session_id!r}")
        return session

    async def _get(self, session_id: str) -> Session:
        session = self._live.get(session_id)
        if session is not None:
            return session
        loading = self._loading.get(session_id)
        if loading is None:
            loading = asyncio.get_running_loop().create_task(self._load(session_id), name=f"load-{session_id}")
            self._loading[session_id] = loading
        return await asyncio.shield(loading)

    async def _load(self, session_id: str) -> Session:
        try:
            row = await self.services.store.sessions.get(session_id)
            if row is None:
                raise SessionNotFoundError(f"unknown session {session_id!r}")
            epoch = await self.services.cluster.claim(session_id)
            session = Session(row, self.services, epoch=epoch)
            self._live[session_id] = session
            if session.owned:
                await session.recover()
                await session.run_commands()
            return session
        finally:
            self._loading.pop(session_id, None)

    async def create(
        self,
        *,
        timezone: str | None = None,
        title: str | None = None,
        session_id: str | None = None,
        caller: Principal | None = None,
    ) -> Session:
        """A new session (with ``session_id``: that id, e.g. derived from an OpenAI conversation id),
        owned by ``caller``'s tenant and user (the local principal owns nothing: ``public``, no user)."""
        session_id = session_id or uuid.uuid4().hex
        tenant, owner = owner_of(caller)
        row = await self.services.store.sessions.create(
            session_id, timezone=timezone, title=title or None, tenant=tenant, owner=owner
        )
        session = Session(row, self.services, epoch=await self.services.cluster.claim(session_id))
        self._live[session_id] = session
        return session

    def all_live(self) -> list[Session]:
        return list(self._live.values())

    def owned(self) -> list[Session]:
        """Sessions whose turns this process runs."""
        return [s for s in self._live.values() if s.owned]

    def watched_followers(self) -> list[Session]:
        """Sessions another process owns that clients of this process are watching."""
        return [s for s in self._live.values() if not s.owned and s.channel.subscribers]

    @property
    def live_count(self) -> int:
        return len(self._live)

    def running_count(self) -> int:
        return sum(1 for s in self._live.values() if s.running)

    def teams_count(self) -> int:
        """Live sessions holding a built team (agents in memory)."""
        return sum(1 for s in self._live.values() if s.has_team)

    async def stored_count(self) -> int:
        """Sessions in the store, live or not."""
        return await self.services.store.sessions.count()

    async def list(self, caller: Principal | None = None) -> list[dict[str, Any]]:
        """Sessions ``caller`` may see (all with None): its own, or its tenant's for an admin."""
        if caller is None:
            rows = await self.services.store.sessions.list()
        elif caller.admin:
            rows = await self.services.store.sessions.list(tenant=caller.tenant)
        else:
            mine = await self.services.store.sessions.list(tenant=caller.tenant, owner=caller.user_id)
            shared = [r for r in await self.services.store.sessions.list(tenant=caller.tenant) if r.owner is None]
            rows = sorted([*mine, *shared], key=lambda r: r.updated_at, reverse=True)
        out = []
        for row in rows:
            item = row.summary()
            live = self._live.get(row.id)
            item["running"] = bool(live and live.running)
            out.append(item)
        return out

    # --- changes --------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _lifecycle(self, session_id: str) -> AsyncIterator[None]:
        """Serialise deletes and resets of one session, and make get() wait while one runs."""
        while (change := self._changing.get(session_id)) is not None:
            await asyncio.shield(change)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._changing[session_id] = done
        try:
            yield
        finally:
            self._changing.pop(session_id, None)
            done.set_result(None)

    async def delete(self, session_id: str) -> None:
        async with self._lifecycle(session_id):
            session = await self._get(session_id)
            await session.close()
            self._live.pop(session_id, None)
            sandbox = self.services.sandbox
            if sandbox is not None:
                try:
                    await sandbox.remove(session_id, deleted=True)
                except Exception:
                    self.sandbox_removal_errors += 1
                    logger.exception(
                        "session %s: its sandbox could not be removed (orphan clean-up retries)", session_id
                    )
            await self.services.hub.flush()
            await self.services.store.sessions.delete(session_id)
            try:
                await remove_uploads(session_id, self.services.settings.data_dir)
            except OSError:
                self.services.counters.upload_removal_errors += 1
                logger.exception("session %s: its upload folder could not be removed", session_id)
        if self.services.reminders is not None:
            self.services.reminders.wake()

    async def reset(self, session_id: str) -> Session:
        """Forget the conversation, keep the id (and its todos and reminders)."""
        async with self._lifecycle(session_id):
            session = await self._get(session_id)
            await session.stop()
            await session.close()
            self._live.pop(session_id, None)
            await self.services.hub.flush()
            await self.services.store.sessions.reset(session_id)
            fresh = await self._get(session_id)
            fresh.channel.subscribers |= session.channel.subscribers
            await self.services.hub.emit_now(fresh.channel, "reset")
        return fresh

    # --- eviction -------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(), name="session-sweeper")

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            await self.evict_idle()

    async def evict_idle(self, older_than: float | None = None) -> int:
        limit = self.services.settings.session_idle_seconds if older_than is None else older_than
        now = time.monotonic()
        evicted = 0
        for session_id, session in list(self._live.items()):
            if session.idle and now - session.last_active >= limit:
                await session.close()
                self._live.pop(session_id, None)
                evicted += 1
        if evicted:
            logger.info("evicted %d idle sessions", evicted)
        return evicted

    async def close(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        await cancel_and_wait(sweeper)
        for session in list(self._live.values()):
            await session.close()
        self._live.clear()
        await self.services.hub.flush()
