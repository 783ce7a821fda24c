"""Token usage per finished turn, and the totals ``/v1/stats`` reports (grouped in SQL)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .db import Database, Tx

#: the groupings a report can ask for, each a column of ``usage_records``
GROUPS = ("model", "day", "session_id", "tenant", "user_id")


@dataclass(frozen=True, slots=True)
class UsageTotals:
    key: str
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    #: turns whose counts the model server did not report (ours are then incomplete or estimated)
    unreported: int


class UsageRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        session_id: str,
        *,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        reported: bool,
        tenant: str = "public",
        user_id: str | None = None,
        at: float | None = None,
        tx: Tx | None = None,
    ) -> None:
        """One finished turn (written in the same transaction as its ``done``)."""
        now = time.time() if at is None else at
        day = datetime.fromtimestamp(now, UTC).date().isoformat()
        async with self._db.transaction(tx) as t:
            await t.executemany(  # deferred: rides with the done's commit
                "INSERT INTO usage_records (session_id, tenant, user_id, model, day, requests, prompt_tokens, "
                "completion_tokens, reported, created_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
                [(session_id, tenant, user_id, model, day, prompt_tokens, completion_tokens, int(reported), now)],
            )

    async def totals(
        self, group: str, *, since: float = 0.0, tenant: str | None = None, limit: int = 1000
    ) -> list[UsageTotals]:
        """Sums per ``group`` (one of :data:`GROUPS`) and model of the turns recorded at or after ``since``
        (per model too, so that each row can be priced), the largest first."""
        if group not in GROUPS:
            raise ValueError(f"unknown usage grouping {group!r}")
        where = "created_at >= ?"
        params: list[Any] = [since]
        if tenant is not None:
            where += " AND tenant = ?"
            params.append(tenant)
        # group is one of GROUPS (checked above) and where is built from constants: no user text in SQL
        sql = (
            f"SELECT COALESCE({group}, ''), model, SUM(requests), SUM(prompt_tokens), SUM(completion_tokens), "  # noqa: S608
            f"SUM(1 - reported) FROM usage_records WHERE {where} GROUP BY {group}, model "
            f"ORDER BY SUM(prompt_tokens) + SUM(completion_tokens) DESC, {group}, model LIMIT ?"
        )
        rows = await self._db.fetchall(sql, (*params, limit))
        return [UsageTotals(str(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows]

    async def tokens_on(self, day: str, *, tenant: str, user_id: str) -> int:
        """Model tokens (prompt + completion) of one user's turns on one UTC day (``YYYY-MM-DD``)."""
        row = await self._db.fetchone(
            "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM usage_records "
            "WHERE tenant = ? AND user_id = ? AND day = ?",
            (tenant, user_id, day),
        )
        return int(row[0]) if row else 0

    async def reset_at(self, scope: str) -> float:
        """When the stats view ``scope`` was last reset (0 when never)."""
        row = await self._db.fetchone("SELECT reset_at FROM stats_resets WHERE scope = ?", (scope,))
        return float(row[0]) if row else 0.0

    async def reset(self, scope: str, at: float | None = None) -> float:
        """Start the view ``scope`` afresh from now; the records themselves are kept."""
        now = time.time() if at is None else at
        async with self._db.transaction() as t:
            await t.execute(
                "INSERT INTO stats_resets (scope, reset_at) VALUES (?, ?) "
                "ON CONFLICT(scope) DO UPDATE SET reset_at = excluded.reset_at",
                (scope, now),
            )
        return now
