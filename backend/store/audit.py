"""The audit log: one row per API request and per WebSocket command. Rows carry who, what, where
and the outcome, never a credential (the server passes none in)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .db import Database

_COLUMNS = "ts, request_id, tenant, actor, key_id, address, action, method, path, session_id, status, latency_ms"


@dataclass(frozen=True, slots=True)
class AuditRow:
    ts: float
    request_id: str
    tenant: str | None
    actor: str | None
    key_id: str | None
    address: str
    action: str
    method: str | None
    path: str | None
    session_id: str | None
    status: int
    latency_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _COLUMNS.split(", ")}


class AuditRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, rows: list[AuditRow]) -> None:
        if not rows:
            return
        async with self._db.transaction() as tx:
            await tx.executemany(
                f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                [tuple(getattr(r, name) for name in _COLUMNS.split(", ")) for r in rows],
            )

    async def query(
        self,
        *,
        tenant: str | None,
        session_id: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: float | None = None,
        limit: int = 100,
        with_anonymous: bool = False,
    ) -> list[AuditRow]:
        """Newest first. ``tenant`` None: every tenant's rows; ``with_anonymous``: also the rows of
        callers that were never identified (refused credentials)."""
        where: list[str] = []
        params: list[Any] = []
        if tenant is not None:
            where.append("(tenant = ? OR tenant IS NULL)" if with_anonymous else "tenant = ?")
            params.append(tenant)
        for column, value in (("session_id", session_id), ("actor", actor), ("action", action)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("ts >= ?")
            params.append(since)
        clause = ("WHERE " + " AND ".join(where) + " ") if where else ""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM audit_log {clause}ORDER BY ts DESC, id DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        )
        return [AuditRow(float(r[0]), str(r[1]), r[2], r[3], r[4], str(r[5]), str(r[6]), r[7], r[8], r[9], int(r[10]),
                         float(r[11])) for r in rows]  # fmt: skip

    async def prune(self, older_than_days: int) -> int:
        async with self._db.transaction() as tx:
            return await tx.execute("DELETE FROM audit_log WHERE ts < ?", (time.time() - older_than_days * 86400,))
