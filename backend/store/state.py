"""Team state snapshots and the inbox of messages the team has not seen yet."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .db import Database, Row, Tx

_INSERT_INBOX = (
    "INSERT INTO inbox (session_id, kind, source, content, seq, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id"
)
_TOUCH_SESSION = "UPDATE sessions SET updated_at = ? WHERE id = ?"


@dataclass(frozen=True, slots=True)
class InboxItem:
    id: int
    kind: str  # "user" | "terminal" | "reminder" | "answer" | "note"
    source: str
    content: str
    seq: int | None


class StateRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def load(self, session_id: str) -> tuple[str, int] | None:
        row = await self._db.fetchone("SELECT state, seq FROM team_state WHERE session_id = ?", (session_id,))
        return (str(row[0]), int(row[1])) if row else None

    async def commit_turn(
        self,
        session_id: str,
        *,
        state: str | None,
        seq: int,
        consumed: Sequence[int],
        tx: Tx | None = None,
    ) -> None:
        """Atomically: save the team state, mark inbox items consumed, record the activity."""
        # executemany, not execute: no result is needed, so the statements ride with the commit (one
        # hop to SQLite's writer thread for the whole turn end, no PostgreSQL round trip of their own)
        async with self._db.transaction(tx) as t:
            if state is not None:
                await t.executemany(
                    "INSERT INTO team_state (session_id, state, seq, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(session_id) DO UPDATE SET state = excluded.state, seq = excluded.seq, "
                    "updated_at = excluded.updated_at",
                    [(session_id, state, seq, time.time())],
                )
            if consumed:
                await t.executemany("UPDATE inbox SET consumed = 1 WHERE id = ?", [(i,) for i in consumed])
            await t.executemany(_TOUCH_SESSION, [(time.time(), session_id)])

    # --- inbox ------------------------------------------------------------------------------------
    async def add_inbox(
        self,
        session_id: str,
        kind: str,
        source: str,
        content: str,
        *,
        seq: int | None = None,
        tx: Tx | None = None,
    ) -> int:
        """Queue a message for the team (inside ``tx`` with the events that acknowledge it)."""
        async with self._db.transaction(tx) as t:
            # deferred (executemany): it rides with the INSERT's own trip, not a trip of its own
            await t.executemany(_TOUCH_SESSION, [(time.time(), session_id)])
            row = await t.fetchone(
                _INSERT_INBOX,
                (session_id, kind, source, content, seq, time.time()),
            )
        return int(row[0]) if row else 0

    async def add_inbox_at_commit(
        self, session_id: str, kind: str, source: str, content: str, *, seq: int | None, tx: Tx
    ) -> asyncio.Future[int]:
        """``add_inbox`` inside ``tx`` without a trip to the database of its own (SQLite: it rides with
        the COMMIT); the row's id once ``tx`` has committed."""
        await tx.executemany(_TOUCH_SESSION, [(time.time(), session_id)])
        row = await tx.fetchone_at_commit(
            _INSERT_INBOX,
            (session_id, kind, source, content, seq, time.time()),
        )
        inbox_id: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def settled(done: asyncio.Future[Row | None]) -> None:
            if done.cancelled():
                inbox_id.cancel()
            else:
                result = done.result()
                inbox_id.set_result(int(result[0]) if result else 0)

        row.add_done_callback(settled)
        return inbox_id

    async def pending(self, session_id: str) -> list[InboxItem]:
        rows = await self._db.fetchall(
            "SELECT id, kind, source, content, seq FROM inbox WHERE session_id = ? AND consumed = 0 ORDER BY id",
            (session_id,),
        )
        return [InboxItem(int(r[0]), str(r[1]), str(r[2]), str(r[3]), r[4]) for r in rows]

    async def consume(self, ids: Sequence[int]) -> None:
        if ids:
            async with self._db.transaction() as tx:
                await tx.executemany("UPDATE inbox SET consumed = 1 WHERE id = ?", [(i,) for i in ids])
