"""The append-only event timeline. Bodies are stored exactly as they were sent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .db import Database, Tx

# (session_id, seq, type, ts, body)
EventRow = tuple[str, int, str, float, str]

INSERT = "INSERT INTO events (session_id, seq, type, ts, body) VALUES (?, ?, ?, ?, ?)"


class EventRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, rows: Sequence[EventRow], *, tx: Tx | None = None) -> None:
        """Insert a batch of events (the hot path: one INSERT statement, nothing else).

        A session's last ``seq`` is ``MAX(seq)`` of its events (the primary key makes that one
        index probe); its activity time is updated at turn boundaries, not per event.
        """
        if not rows:
            return
        async with self._db.transaction(tx) as t:
            await t.executemany(INSERT, rows)

    async def after(self, session_id: str, seq: int, limit: int | None = None) -> list[str]:
        """Event bodies with a sequence number above ``seq``, in order."""
        sql = "SELECT body FROM events WHERE session_id = ? AND seq > ? ORDER BY seq"
        params: tuple[object, ...] = (session_id, seq)
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        return [row[0] for row in await self._db.fetchall(sql, params)]

    async def types_after(self, session_id: str, seq: int, types: Iterable[str]) -> list[str]:
        wanted = tuple(types)
        marks = ",".join("?" for _ in wanted)
        rows = await self._db.fetchall(
            f"SELECT body FROM events WHERE session_id = ? AND seq > ? AND type IN ({marks}) ORDER BY seq",  # noqa: S608
            (session_id, seq, *wanted),
        )
        return [row[0] for row in rows]

    async def last_seq(self, session_id: str, *, tx: Tx | None = None) -> int:
        sql = "SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?"
        row = await (tx.fetchone(sql, (session_id,)) if tx else self._db.fetchone(sql, (session_id,)))
        return int(row[0]) if row else 0

    async def last_of_type(self, session_id: str, types: Iterable[str]) -> tuple[int, str] | None:
        wanted = tuple(types)
        marks = ",".join("?" for _ in wanted)
        row = await self._db.fetchone(
            f"SELECT seq, type FROM events WHERE session_id = ? AND type IN ({marks}) ORDER BY seq DESC LIMIT 1",  # noqa: S608
            (session_id, *wanted),
        )
        return (int(row[0]), str(row[1])) if row else None

    async def recent_keys(self, session_id: str, type_: str, *, limit: int = 50) -> set[str]:
        """The ``key`` fields of the latest events of one type (de-duplicates redelivery)."""
        key = self._db.dialect.json_text("body", "key")
        rows = await self._db.fetchall(
            f"SELECT {key} FROM events WHERE session_id = ? AND type = ? ORDER BY seq DESC LIMIT ?",  # noqa: S608
            (session_id, type_, limit),
        )
        return {str(row[0]) for row in rows if row[0] is not None}
