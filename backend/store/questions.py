"""Questions the team asked the user: pending until answered, cancelled or expired."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from .db import Database


@dataclass(frozen=True, slots=True)
class QuestionRow:
    id: str
    session_id: str
    question: str
    options: list[str] | None
    status: str  # pending | answered | cancelled | expired
    answer: str | None
    created_at: float

    def to_event(self) -> dict[str, Any]:
        return {"question_id": self.id, "content": self.question, "options": self.options}


def _row(r: Any) -> QuestionRow:
    return QuestionRow(
        id=r[0],
        session_id=r[1],
        question=r[2],
        options=json.loads(r[3]) if r[3] else None,
        status=r[4],
        answer=r[5],
        created_at=r[6],
    )


_COLUMNS = "id, session_id, question, options, status, answer, created_at"


class QuestionRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, question_id: str, session_id: str, question: str, options: list[str] | None) -> QuestionRow:
        now = time.time()
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO questions (id, session_id, question, options, created_at) VALUES (?, ?, ?, ?, ?)",
                (question_id, session_id, question, json.dumps(options) if options else None, now),
            )
        return QuestionRow(question_id, session_id, question, options, "pending", None, now)

    async def get(self, question_id: str) -> QuestionRow | None:
        r = await self._db.fetchone(f"SELECT {_COLUMNS} FROM questions WHERE id = ?", (question_id,))  # noqa: S608
        return _row(r) if r else None

    async def pending(self, session_id: str) -> list[QuestionRow]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM questions WHERE session_id = ? AND status = 'pending' ORDER BY created_at",  # noqa: S608
            (session_id,),
        )
        return [_row(r) for r in rows]

    async def close(self, question_id: str, status: str, answer: str | None = None) -> bool:
        """pending -> answered/cancelled/expired. False if it was not pending (answered twice, ...)."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE questions SET status = ?, answer = ?, answered_at = ? WHERE id = ? AND status = 'pending'",
                (status, answer, time.time(), question_id),
            )
        return changed > 0
