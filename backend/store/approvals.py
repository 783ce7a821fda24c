"""Tool calls waiting for the user's approval, and the session's "allow always" grants."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from .db import Database

_COLUMNS = (
    "id, session_id, agent, tool, arguments, risk, reason, grant_key, status, decided_by, note, created_at, expires_at"
)


@dataclass(frozen=True, slots=True)
class ApprovalRow:
    id: str
    session_id: str
    agent: str
    tool: str
    arguments: dict[str, Any]
    risk: str
    reason: str
    grant_key: str
    status: str  # pending | allowed | denied | expired | cancelled
    decided_by: str | None
    note: str | None
    created_at: float
    expires_at: float

    def to_event(self) -> dict[str, Any]:
        """The ``approval_request`` event's fields."""
        return {"approval_id": self.id, "agent": self.agent, "tool": self.tool, "arguments": self.arguments,
                "risk": self.risk, "reason": self.reason, "grant": self.grant_key,
                "expires_at": self.expires_at}  # fmt: skip


def _row(r: Any) -> ApprovalRow:
    return ApprovalRow(str(r[0]), str(r[1]), str(r[2]), str(r[3]), json.loads(r[4]), str(r[5]), str(r[6]), str(r[7]),
                       str(r[8]), r[9], r[10], float(r[11]), float(r[12]))  # fmt: skip


class ApprovalRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, row: ApprovalRow) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                f"INSERT INTO approvals ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                (row.id, row.session_id, row.agent, row.tool, json.dumps(row.arguments, ensure_ascii=False),
                 row.risk, row.reason, row.grant_key, row.status, row.decided_by, row.note, row.created_at,
                 row.expires_at),
            )  # fmt: skip

    async def get(self, approval_id: str) -> ApprovalRow | None:
        r = await self._db.fetchone(f"SELECT {_COLUMNS} FROM approvals WHERE id = ?", (approval_id,))  # noqa: S608
        return _row(r) if r else None

    async def pending(self, session_id: str) -> list[ApprovalRow]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM approvals WHERE session_id = ? AND status = 'pending' "  # noqa: S608
            "ORDER BY created_at",
            (session_id,),
        )
        return [_row(r) for r in rows]

    async def decide(self, approval_id: str, status: str, by: str, note: str | None) -> bool:
        """pending -> allowed/denied/expired/cancelled, once: False when it was already decided."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE approvals SET status = ?, decided_by = ?, note = ?, decided_at = ? "
                "WHERE id = ? AND status = 'pending'",
                (status, by, note, time.time(), approval_id),
            )
        return changed > 0

    async def grants(self, session_id: str) -> list[str]:
        rows = await self._db.fetchall(
            "SELECT grant_key FROM approval_grants WHERE session_id = ? ORDER BY created_at, grant_key", (session_id,)
        )
        return [str(r[0]) for r in rows]

    async def grant(self, session_id: str, key: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO approval_grants (session_id, grant_key, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT(session_id, grant_key) DO NOTHING",
                (session_id, key, time.time()),
            )

    async def revoke(self, session_id: str, key: str) -> bool:
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "DELETE FROM approval_grants WHERE session_id = ? AND grant_key = ?", (session_id, key)
            )
        return changed > 0
