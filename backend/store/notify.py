"""Announcements between processes sharing a PostgreSQL database: LISTEN/NOTIFY.

Writers announce inside their transaction with a tiny payload (``session_id:seq`` for events, the
session id for commands): NOTIFY is delivered on commit only, and payloads are capped at 8000
bytes, so the event itself is never sent. Each process holds one dedicated listening connection;
a notification is only a wake-up, the listener re-reads the table. Notifications sent while the
listener is disconnected are lost, so ``on_connect`` runs after every (re)connect and the
callers re-read everything they follow.

With SQLite there is one process: nothing to announce, no listener.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..tasks import cancel_and_wait
from .commands import COMMANDS_CHANNEL
from .db import Database, Tx

logger = logging.getLogger(__name__)

EVENTS_CHANNEL = "agentchat_events"
RECONNECT_DELAY = 0.5


async def announce_events(db: Database, tx: Tx, last: dict[str, int]) -> None:
    """Inside ``tx``: tell every process the sessions' new last seqs."""
    if db.dialect.name != "postgres" or not last:
        return
    # executemany: no result to wait for, so it rides with the INSERT and the COMMIT (pipeline)
    await tx.executemany("SELECT pg_notify(?, ?)", [(EVENTS_CHANNEL, f"{sid}:{seq}") for sid, seq in last.items()])


class Listener:
    """One dedicated connection LISTENing on the events and commands channels; reconnects."""

    def __init__(
        self,
        url: str,
        *,
        on_event: Callable[[str, int], None],
        on_command: Callable[[str], None],
        on_connect: Callable[[], None],
    ) -> None:
        self._url = url
        self._on_event = on_event
        self._on_command = on_command
        self._on_connect = on_connect
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.errors = 0
        self.received = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="pg-listener")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        from psycopg import AsyncConnection, Error

        while True:
            try:
                async with await AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                    await conn.execute(f"LISTEN {COMMANDS_CHANNEL}")
                    self.connected.set()
                    self._on_connect()
                    async for note in conn.notifies():
                        self.received += 1
                        self._dispatch(note.channel, note.payload)
            except Error as exc:
                self.errors += 1
                logger.warning("listener connection lost (%s); reconnecting", exc)
            self.connected.clear()
            self.reconnects += 1
            await asyncio.sleep(RECONNECT_DELAY)

    def _dispatch(self, channel: str, payload: str) -> None:
        try:
            if channel == EVENTS_CHANNEL:
                sid, _, seq = payload.rpartition(":")
                self._on_event(sid, int(seq))
            elif channel == COMMANDS_CHANNEL:
                self._on_command(payload)
        except Exception:
            self.errors += 1
            logger.exception("listener callback failed for %s %r", channel, payload)
