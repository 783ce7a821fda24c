"""Todos table: one list per session, shared by every agent of the session's team.

Every method takes the session id and scopes its SQL by it: a session never sees or changes
another session's todos, even when it guesses their ids (ids are per-database integers).
Values are validated by the callers (``backend.tools.todos``); this module only stores them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .db import Database, Tx

TODO_STATUSES = ("open", "done")
TODO_PRIORITIES = ("low", "normal", "high")
#: Columns ``update`` may change (a closed set: they are interpolated into the SQL).
UPDATABLE = ("title", "notes", "due", "priority", "status")

_COLUMNS = "id, session_id, title, notes, due, priority, status, created_at, updated_at"
# Open todos first, each group in creation order.
_ORDER = "ORDER BY CASE WHEN status = 'done' THEN 1 ELSE 0 END, id"


@dataclass(frozen=True, slots=True)
class TodoRow:
    id: int
    session_id: str
    title: str
    notes: str | None
    due: str | None  # an ISO date or date-time in the user's zone, or free text we could not read
    priority: str
    status: str
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        """The shape clients get in ``todos`` events."""
        return {
            "id": self.id,
            "title": self.title,
            "notes": self.notes,
            "due": self.due,
            "priority": self.priority,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


_Rows = list[TodoRow]  # (``list`` is shadowed inside TodoRepo by its method)


def _row(values: Any) -> TodoRow:
    return TodoRow(
        id=int(values[0]),
        session_id=str(values[1]),
        title=str(values[2]),
        notes=values[3],
        due=values[4],
        priority=str(values[5] or "normal"),
        status=str(values[6]),
        created_at=float(values[7]),
        updated_at=float(values[8]),
    )


class TodoRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        session_id: str,
        title: str,
        *,
        notes: str | None = None,
        due: str | None = None,
        priority: str = "normal",
        now: float | None = None,
        status: str = "open",
        updated_at: float | None = None,
        tx: Tx | None = None,
    ) -> TodoRow:
        """A new todo (``status``/``updated_at``: as it was elsewhere, when a session is imported)."""
        ts = time.time() if now is None else now
        updated = ts if updated_at is None else updated_at
        async with self._db.transaction(tx) as t:
            row = await t.fetchone(
                "INSERT INTO todos (session_id, title, notes, due, priority, status, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (session_id, title, notes, due, priority, status, ts, updated),
            )
        assert row is not None
        return TodoRow(int(row[0]), session_id, title, notes, due, priority, status, ts, updated)

    async def get(self, session_id: str, todo_id: int, *, tx: Tx | None = None) -> TodoRow | None:
        sql = f"SELECT {_COLUMNS} FROM todos WHERE session_id = ? AND id = ?"  # noqa: S608
        values = await (tx or self._db).fetchone(sql, (session_id, todo_id))
        return _row(values) if values else None

    async def list(self, session_id: str, status: str | None = None, *, limit: int | None = None) -> _Rows:
        """The session's todos, open ones first, each group oldest first; ``status`` filters."""
        sql = f"SELECT {_COLUMNS} FROM todos WHERE session_id = ?"  # noqa: S608
        params: list[object] = [session_id]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        sql += f" {_ORDER}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_row(values) for values in await self._db.fetchall(sql, params)]

    async def counts(self, session_id: str) -> dict[str, int]:
        """Number of todos per status, every status present (zero when none)."""
        counts = dict.fromkeys(TODO_STATUSES, 0)
        for status, n in await self._db.fetchall(
            "SELECT status, COUNT(*) FROM todos WHERE session_id = ? GROUP BY status", (session_id,)
        ):
            counts[str(status)] = int(n)
        return counts

    async def update(
        self, session_id: str, todo_id: int, changes: Mapping[str, str | None], *, now: float | None = None
    ) -> TodoRow | None:
        """Apply ``changes`` (column -> value; None clears notes/due); None if there is no such todo."""
        unknown = set(changes) - set(UPDATABLE)
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        ts = time.time() if now is None else now
        columns = [name for name in UPDATABLE if name in changes]
        assignments = ", ".join(f"{name} = ?" for name in columns)
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                f"UPDATE todos SET {assignments}{', ' if columns else ''}updated_at = ? "  # noqa: S608
                "WHERE session_id = ? AND id = ?",
                (*(changes[name] for name in columns), ts, session_id, todo_id),
            )
            if changed == 0:
                return None
            return await self.get(session_id, todo_id, tx=tx)

    async def delete(self, session_id: str, todo_id: int) -> TodoRow | None:
        """Remove one todo; returns it as it was, or None if there was no such todo."""
        async with self._db.transaction() as tx:
            row = await self.get(session_id, todo_id, tx=tx)
            if row is not None:
                await tx.execute("DELETE FROM todos WHERE session_id = ? AND id = ?", (session_id, todo_id))
        return row
