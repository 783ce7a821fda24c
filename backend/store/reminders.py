"""Reminders table: what to say, when (UTC epoch seconds), in which zone, and how it repeats.

Per-session methods scope their SQL by session id. The scheduler's methods (:meth:`ReminderRepo.next_due_at`,
:meth:`ReminderRepo.due`, :meth:`ReminderRepo.record_fire`) work across all sessions.

A reminder's status is ``scheduled`` until it fires for the last time (``fired``) or is
``cancelled``. ``fire_count`` counts deliveries; ``(id, fire_count)`` before a delivery is that
occurrence's idempotency key (see :attr:`ReminderRow.key`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .db import Database, Tx

REMINDER_STATUSES = ("scheduled", "fired", "cancelled")

_COLUMNS = "id, session_id, message, due_at, timezone, repeat, status, fire_count, created_at, fired_at"


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class ReminderRow:
    id: int
    session_id: str
    message: str
    due_at: float  # UTC epoch seconds of the next (or last) occurrence
    timezone: str | None  # IANA zone the time was given in; recurrence is evaluated there
    repeat: str | None  # None, "hourly" | "daily" | "weekly" | "weekdays", or a cron expression
    status: str
    fire_count: int
    created_at: float
    fired_at: float | None

    @property
    def key(self) -> tuple[int, int]:
        """Idempotency key of the occurrence this row is about to deliver: ``(id, fire_count)``.

        The scheduler marks an occurrence after ``deliver`` returns, so a crash in between
        re-delivers it on restart with the same key; receivers de-duplicate on it.
        """
        return (self.id, self.fire_count)

    @property
    def dedup_key(self) -> str:
        """:attr:`key` as a string, ``"<id>:<fire_count>"`` (what the ``reminder`` event carries)."""
        return f"{self.id}:{self.fire_count}"

    @property
    def due(self) -> str:
        """``due_at`` as an ISO time in the reminder's own zone."""
        return datetime.fromtimestamp(self.due_at, _zone(self.timezone)).isoformat(timespec="seconds")

    def to_dict(self) -> dict[str, Any]:
        """The shape clients get in ``reminders`` and ``reminder`` events."""
        return {
            "id": self.id,
            "message": self.message,
            "due": self.due,
            "due_at": self.due_at,
            "timezone": self.timezone,
            "repeat": self.repeat.partition("@")[0] if self.repeat else None,  # the rule, not its anchor
            "status": self.status,
            "fire_count": self.fire_count,
            "created_at": self.created_at,
            "fired_at": self.fired_at,
        }


_Rows = list[ReminderRow]  # (``list`` is shadowed inside ReminderRepo by its method)


def _row(values: Any) -> ReminderRow:
    return ReminderRow(
        id=int(values[0]),
        session_id=str(values[1]),
        message=str(values[2]),
        due_at=float(values[3]),
        timezone=values[4],
        repeat=values[5],
        status=str(values[6]),
        fire_count=int(values[7]),
        created_at=float(values[8]),
        fired_at=None if values[9] is None else float(values[9]),
    )


class ReminderRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- per session ------------------------------------------------------------------------------
    async def add(
        self,
        session_id: str,
        message: str,
        due_at: float,
        *,
        timezone: str | None = None,
        repeat: str | None = None,
        now: float | None = None,
    ) -> ReminderRow:
        ts = time.time() if now is None else now
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "INSERT INTO reminders (session_id, message, due_at, timezone, repeat, status, fire_count, "
                "created_at) VALUES (?, ?, ?, ?, ?, 'scheduled', 0, ?) RETURNING id",
                (session_id, message, due_at, timezone, repeat, ts),
            )
        assert row is not None
        return ReminderRow(int(row[0]), session_id, message, due_at, timezone, repeat, "scheduled", 0, ts, None)

    async def get(self, session_id: str, reminder_id: int, *, tx: Tx | None = None) -> ReminderRow | None:
        sql = f"SELECT {_COLUMNS} FROM reminders WHERE session_id = ? AND id = ?"  # noqa: S608
        values = await (tx or self._db).fetchone(sql, (session_id, reminder_id))
        return _row(values) if values else None

    async def list(self, session_id: str, status: str | None = "scheduled", *, limit: int | None = None) -> _Rows:
        """The session's reminders in due order (``status=None``: every status)."""
        sql = f"SELECT {_COLUMNS} FROM reminders WHERE session_id = ?"  # noqa: S608
        params: list[object] = [session_id]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        sql += " ORDER BY due_at, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_row(values) for values in await self._db.fetchall(sql, params)]

    async def count(self, session_id: str, *, status: str = "scheduled") -> int:
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM reminders WHERE session_id = ? AND status = ?", (session_id, status)
        )
        return int(row[0]) if row else 0

    async def cancel(self, session_id: str, reminder_id: int) -> ReminderRow | None:
        """Cancel a scheduled reminder; returns it as it is now, or None if none was scheduled."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE reminders SET status = 'cancelled' WHERE session_id = ? AND id = ? AND status = 'scheduled'",
                (session_id, reminder_id),
            )
            if changed == 0:
                return None
            return await self.get(session_id, reminder_id, tx=tx)

    # --- scheduler (all sessions) -------------------------------------------------------------------
    async def next_due_at(self) -> float | None:
        """The earliest due time of any scheduled reminder, or None."""
        row = await self._db.fetchone("SELECT MIN(due_at) FROM reminders WHERE status = 'scheduled'")
        return None if row is None or row[0] is None else float(row[0])

    async def due(self, now: float, *, limit: int = 100) -> _Rows:
        """Scheduled reminders of every session due at or before ``now``, earliest first."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM reminders WHERE status = 'scheduled' AND due_at <= ? "  # noqa: S608
            "ORDER BY due_at, id LIMIT ?",
            (now, limit),
        )
        return [_row(values) for values in rows]

    async def claim_due(self, now: float, tx: Tx) -> ReminderRow | None:
        """Lock one due reminder inside ``tx`` (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so every
        process claims a different row; SQLite's single writer serializes the same query)."""
        lock = self._db.dialect.skip_locked
        values = await tx.fetchone(
            f"SELECT {_COLUMNS} FROM reminders WHERE status = 'scheduled' AND due_at <= ? "  # noqa: S608
            f"ORDER BY due_at, id LIMIT 1{lock}",
            (now,),
        )
        return _row(values) if values else None

    async def record_fire(
        self, row: ReminderRow, *, fired_at: float, next_due_at: float | None, tx: Tx | None = None
    ) -> bool:
        """Mark the occurrence ``row.key`` delivered: a one-shot becomes ``fired``, a repeating one
        moves to ``next_due_at``. A no-op (False) if the row changed meanwhile (cancelled, or the
        occurrence was already recorded), so a stale caller can never double-advance it.
        """
        async with self._db.transaction(tx) as t:
            changed = await t.execute(
                "UPDATE reminders SET fire_count = fire_count + 1, fired_at = ?, "
                "status = CASE WHEN CAST(? AS DOUBLE PRECISION) IS NULL THEN 'fired' ELSE status END, "
                "due_at = COALESCE(CAST(? AS DOUBLE PRECISION), due_at) "
                "WHERE id = ? AND status = 'scheduled' AND fire_count = ?",
                (fired_at, next_due_at, next_due_at, row.id, row.fire_count),
            )
        return changed > 0
