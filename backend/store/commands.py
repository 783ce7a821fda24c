"""Commands for a session's owner (message, stop, answer, reminder), sent from any process.

A command is a row; the sender announces it (PostgreSQL: ``pg_notify`` in the same transaction) and
the owner takes it with a conditional update, so each command is acted on once. A message or a
reminder is taken in the same transaction as the event that acknowledges it (exactly once); stop
and answer are taken first, then acted on.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from .db import Database, Tx

COMMANDS_CHANNEL = "agentchat_commands"


@dataclass(frozen=True, slots=True)
class Command:
    id: int
    session_id: str
    kind: str  # message | stop | answer | reminder
    payload: dict[str, Any]
    sender: str


class CommandRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, session_id: str, kind: str, payload: dict[str, Any], *, sender: str, tx: Tx | None = None
    ) -> int:
        """Queue a command and announce it to every process (in the same transaction)."""
        async with self._db.transaction(tx) as t:
            row = await t.fetchone(
                "INSERT INTO commands (session_id, kind, payload, sender, created_at) VALUES (?, ?, ?, ?, ?) "
                "RETURNING id",
                (session_id, kind, json.dumps(payload, ensure_ascii=False), sender, time.time()),
            )
            if self._db.dialect.name == "postgres":
                await t.execute("SELECT pg_notify(?, ?)", (COMMANDS_CHANNEL, session_id))
        assert row is not None
        return int(row[0])

    async def pending(self, session_id: str) -> list[Command]:
        rows = await self._db.fetchall(
            "SELECT id, session_id, kind, payload, sender FROM commands WHERE session_id = ? AND taken = 0 ORDER BY id",
            (session_id,),
        )
        return [Command(int(r[0]), str(r[1]), str(r[2]), json.loads(r[3]), str(r[4])) for r in rows]

    async def take(self, command_id: int, *, tx: Tx | None = None) -> bool:
        """Mark the command handled; False if someone already did."""
        async with self._db.transaction(tx) as t:
            changed = await t.execute("UPDATE commands SET taken = 1 WHERE id = ? AND taken = 0", (command_id,))
        return changed > 0
