"""Team state snapshots and the inbox of messages the team has not seen yet."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from .db import Database
from .events import EventRepo, EventRow


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

    def load(self, session_id: str) -> tuple[str, int] | None:
        row = self._db.conn.execute("SELECT state, seq FROM team_state WHERE session_id = ?", (session_id,)).fetchone()
        return (str(row[0]), int(row[1])) if row else None

    def commit_turn(
        self,
        session_id: str,
        *,
        state: str | None,
        seq: int,
        consumed: Sequence[int],
        events: Sequence[EventRow] = (),
    ) -> None:
        """Atomically: save the team state, mark inbox items consumed, append closing events."""
        with self._db.transaction() as conn:
            if state is not None:
                conn.execute(
                    "INSERT INTO team_state (session_id, state, seq, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(session_id) DO UPDATE SET state = excluded.state, seq = excluded.seq, "
                    "updated_at = excluded.updated_at",
                    (session_id, state, seq, time.time()),
                )
            if consumed:
                conn.executemany("UPDATE inbox SET consumed = 1 WHERE id = ?", [(i,) for i in consumed])
            EventRepo(self._db).append(events)
            conn.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (time.time(), session_id))

    # --- inbox ------------------------------------------------------------------------------------
    def add_inbox(
        self,
        session_id: str,
        kind: str,
        source: str,
        content: str,
        *,
        seq: int | None = None,
        events: Sequence[EventRow] = (),
    ) -> int:
        """Queue a message for the team, together with the events that acknowledge it."""
        with self._db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO inbox (session_id, kind, source, content, seq, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, kind, source, content, seq, time.time()),
            )
            EventRepo(self._db).append(events)
            conn.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (time.time(), session_id))
        return int(cur.lastrowid or 0)

    def pending(self, session_id: str) -> list[InboxItem]:
        rows = self._db.conn.execute(
            "SELECT id, kind, source, content, seq FROM inbox WHERE session_id = ? AND consumed = 0 ORDER BY id",
            (session_id,),
        ).fetchall()
        return [InboxItem(int(r[0]), str(r[1]), str(r[2]), str(r[3]), r[4]) for r in rows]

    def consume(self, ids: Sequence[int]) -> None:
        if ids:
            with self._db.transaction() as conn:
                conn.executemany("UPDATE inbox SET consumed = 1 WHERE id = ?", [(i,) for i in ids])
