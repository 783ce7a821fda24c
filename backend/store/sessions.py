"""Sessions table: identity, title, activity and the persisted sequence counter."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .db import Database

#: A session's last seq is the highest seq of its events (primary-key probe); not stored twice.
_LAST_SEQ = "(SELECT COALESCE(MAX(seq), 0) FROM events WHERE events.session_id = sessions.id)"

SESSION_TABLES = ("events", "team_state", "inbox", "todos", "reminders", "questions")


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: str
    title: str | None
    created_at: float
    updated_at: float
    last_seq: int
    timezone: str | None

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

    def create(self, session_id: str, *, timezone: str | None = None) -> SessionRow:
        now = time.time()
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO sessions (id, created_at, updated_at, timezone) VALUES (?, ?, ?, ?)",
                (session_id, now, now, timezone),
            )
        return SessionRow(session_id, None, now, now, 0, timezone)

    def get(self, session_id: str) -> SessionRow | None:
        row = self._db.conn.execute(
            f"SELECT id, title, created_at, updated_at, {_LAST_SEQ}, timezone FROM sessions WHERE id = ?",  # noqa: S608
            (session_id,),
        ).fetchone()
        return SessionRow(*row) if row else None

    def list(self, limit: int = 200) -> list[SessionRow]:
        rows = self._db.conn.execute(
            f"SELECT id, title, created_at, updated_at, {_LAST_SEQ}, timezone FROM sessions "  # noqa: S608
            "ORDER BY updated_at DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [SessionRow(*row) for row in rows]

    def count(self) -> int:
        return int(self._db.conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])

    def touch(self, session_id: str) -> None:
        """Record activity (a message, a finished turn): the sessions list is ordered by it."""
        with self._db.transaction() as conn:
            conn.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (time.time(), session_id))

    def set_title(self, session_id: str, title: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("UPDATE sessions SET title = ? WHERE id = ?", (title, session_id))

    def set_title_if_empty(self, session_id: str, title: str) -> bool:
        with self._db.transaction() as conn:
            cur = conn.execute("UPDATE sessions SET title = ? WHERE id = ? AND title IS NULL", (title, session_id))
        return cur.rowcount > 0

    def set_timezone(self, session_id: str, timezone: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("UPDATE sessions SET timezone = ? WHERE id = ?", (timezone, session_id))

    def delete(self, session_id: str) -> bool:
        """Remove the session and every row that belongs to it."""
        with self._db.transaction() as conn:
            for table in SESSION_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))  # noqa: S608
            cur = conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        return cur.rowcount > 0

    def reset(self, session_id: str) -> None:
        """Forget the conversation (events stay: the timeline records the reset)."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM team_state WHERE session_id = ?", (session_id,))
            conn.execute("UPDATE inbox SET consumed = 1 WHERE session_id = ?", (session_id,))
