"""The append-only event timeline. Bodies are stored exactly as they were sent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .db import Database

# (session_id, seq, type, ts, body)
EventRow = tuple[str, int, str, float, str]


class EventRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    def append(self, rows: Sequence[EventRow]) -> None:
        """Insert a batch of events in one transaction (the hot path: one INSERT, nothing else).

        A session's last ``seq`` is ``MAX(seq)`` of its events (the primary key makes that one
        index probe); its activity time is updated at turn boundaries, not per event.
        """
        if not rows:
            return
        with self._db.transaction() as conn:
            conn.executemany("INSERT INTO events (session_id, seq, type, ts, body) VALUES (?, ?, ?, ?, ?)", rows)

    def after(self, session_id: str, seq: int, limit: int | None = None) -> list[str]:
        """Event bodies with a sequence number above ``seq``, in order."""
        sql = "SELECT body FROM events WHERE session_id = ? AND seq > ? ORDER BY seq"
        params: tuple[object, ...] = (session_id, seq)
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        return [row[0] for row in self._db.conn.execute(sql, params)]

    def types_after(self, session_id: str, seq: int, types: Iterable[str]) -> list[str]:
        wanted = tuple(types)
        marks = ",".join("?" for _ in wanted)
        rows = self._db.conn.execute(
            f"SELECT body FROM events WHERE session_id = ? AND seq > ? AND type IN ({marks}) ORDER BY seq",  # noqa: S608
            (session_id, seq, *wanted),
        )
        return [row[0] for row in rows]

    def last_seq(self, session_id: str) -> int:
        row = self._db.conn.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?", (session_id,)
        ).fetchone()
        return int(row[0])

    def last_of_type(self, session_id: str, types: Iterable[str]) -> tuple[int, str] | None:
        wanted = tuple(types)
        marks = ",".join("?" for _ in wanted)
        row = self._db.conn.execute(
            f"SELECT seq, type FROM events WHERE session_id = ? AND type IN ({marks}) ORDER BY seq DESC LIMIT 1",  # noqa: S608
            (session_id, *wanted),
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def recent_keys(self, session_id: str, type_: str, *, limit: int = 50) -> set[str]:
        """The ``key`` fields of the latest events of one type (de-duplicates redelivery)."""
        rows = self._db.conn.execute(
            "SELECT json_extract(body, '$.key') FROM events WHERE session_id = ? AND type = ? "
            "ORDER BY seq DESC LIMIT ?",
            (session_id, type_, limit),
        )
        return {str(row[0]) for row in rows if row[0] is not None}
