"""Sessions table: identity, title, activity and the persisted sequence counter."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .db import Database, Row, Tx

#: A session's last seq is the highest seq of its events (primary-key probe); not stored twice.
_LAST_SEQ = "(SELECT COALESCE(MAX(seq), 0) FROM events WHERE events.session_id = sessions.id)"

_COLUMNS = f"id, title, created_at, updated_at, {_LAST_SEQ}, timezone, tenant, owner"

SESSION_TABLES = (
    "events",
    "team_state",
    "inbox",
    "todos",
    "reminders",
    "questions",
    "leases",
    "commands",
    "trace_spans",
    "approvals",
    "approval_grants",
)


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: str
    title: str | None
    created_at: float
    updated_at: float
    last_seq: int
    timezone: str | None
    #: the tenant and user that own the session (``public``/None: made before owners existed, or
    #: with auth off)
    tenant: str = "public"
    owner: str | None = None

    def summary(self) -> dict[str, object]:
        return {
            "session_id": self.id,
            "title": self.title,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_seq": self.last_seq,
        }


class SessionRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        session_id: str,
        *,
        timezone: str | None = None,
        title: str | None = None,
        tenant: str = "public",
        owner: str | None = None,
        tx: Tx | None = None,
    ) -> SessionRow:
        now = time.time()
        async with self._db.transaction(tx) as t:
            # deferred (executemany): the INSERT rides with the COMMIT, one trip to the writer in all
            await t.executemany(
                "INSERT INTO sessions (id, title, created_at, updated_at, timezone, tenant, owner) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(session_id, title, now, now, timezone, tenant, owner)],
            )
        return SessionRow(session_id, title, now, now, 0, timezone, tenant, owner)

    async def get(self, session_id: str) -> SessionRow | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM sessions WHERE id = ?",  # noqa: S608
            (session_id,),
        )
        return _session(row) if row else None

    async def list(self, limit: int = 200, *, tenant: str | None = None, owner: str | None = None) -> list[SessionRow]:
        """The most recently active sessions; with ``tenant`` (and ``owner``) only theirs."""
        where: list[str] = []
        params: list[object] = []
        if tenant is not None:
            where.append("tenant = ?")
            params.append(tenant)
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        clause = ("WHERE " + " AND ".join(where) + " ") if where else ""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM sessions {clause}ORDER BY updated_at DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        )
        return [_session(row) for row in rows]

    async def count(self) -> int:
        row = await self._db.fetchone("SELECT COUNT(*) FROM sessions")
        return int(row[0]) if row else 0

    async def touch(self, session_id: str, *, tx: Tx | None = None) -> None:
        """Record activity (a message, a finished turn): the sessions list is ordered by it."""
        async with self._db.transaction(tx) as t:
            await t.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (time.time(), session_id))

    async def set_title(self, session_id: str, title: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE sessions SET title = ? WHERE id = ?", (title, session_id))

    async def set_title_if_empty(self, session_id: str, title: str, *, tx: Tx | None = None) -> None:
        """Name an untitled session. Deferred (executemany): inside ``tx`` it rides with the next
        statement's trip, not a trip (or a transaction) of its own."""
        async with self._db.transaction(tx) as t:
            await t.executemany("UPDATE sessions SET title = ? WHERE id = ? AND title IS NULL", [(title, session_id)])

    async def set_timezone(self, session_id: str, timezone: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE sessions SET timezone = ? WHERE id = ?", (timezone, session_id))

    async def delete(self, session_id: str) -> bool:
        """Remove the session and every row that belongs to it."""
        async with self._db.transaction() as tx:
            for table in SESSION_TABLES:
                await tx.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))  # noqa: S608
            changed = await tx.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        return changed > 0

    async def reset(self, session_id: str) -> None:
        """Forget the conversation (events stay: the timeline records the reset)."""
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM team_state WHERE session_id = ?", (session_id,))
            await tx.execute("UPDATE inbox SET consumed = 1 WHERE session_id = ?", (session_id,))


def _session(row: Row) -> SessionRow:
    return SessionRow(str(row[0]), row[1], float(row[2]), float(row[3]), int(row[4]), row[5], str(row[6]), row[7])
