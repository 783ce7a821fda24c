"""Trace spans of turns (``GET /v1/sessions/{id}/traces``), written with each turn's ``done``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .db import Database, Tx


@dataclass(frozen=True, slots=True)
class SpanRow:
    span_id: str
    parent_id: str | None
    span_type: str  # turn | model | tool | context | wait | handoff
    name: str
    status: str  # ok | error | cancelled
    started_at: float  # epoch seconds
    ended_at: float
    duration_ms: float
    attributes: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "span_id": self.span_id,
            "parent_id": self.parent_id,
            "span_type": self.span_type,
            "name": self.name,
            "status": self.status,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_ms": self.duration_ms,
            "attributes": self.attributes,
            "error_code": self.error_code,
            "error_message": self.error_message,
        }


_COLUMNS = (
    "span_id, parent_id, span_type, name, status, started_at, ended_at, duration_ms, attributes, error_code, "
    "error_message"
)


class TraceRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, session_id: str, turn: int, spans: Sequence[SpanRow], *, tx: Tx | None = None) -> None:
        if not spans:
            return
        async with self._db.transaction(tx) as t:
            await t.executemany(
                f"INSERT INTO trace_spans (session_id, turn, {_COLUMNS}) "  # noqa: S608 - constant columns
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (session_id, turn, s.span_id, s.parent_id, s.span_type, s.name, s.status, s.started_at,
                     s.ended_at, s.duration_ms, json.dumps(s.attributes, ensure_ascii=False, default=str),
                     s.error_code, s.error_message)
                    for s in spans
                ],
            )  # fmt: skip

    async def turns(self, session_id: str, limit: int = 50) -> list[int]:
        """The latest turns that have spans, newest first."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT turn FROM trace_spans WHERE session_id = ? ORDER BY turn DESC LIMIT ?",
            (session_id, limit),
        )
        return [int(r[0]) for r in rows]

    async def spans(self, session_id: str, turn: int) -> list[SpanRow]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM trace_spans WHERE session_id = ? AND turn = ? "  # noqa: S608 - constant columns
            "ORDER BY started_at, span_id",
            (session_id, turn),
        )
        return [
            SpanRow(str(r[0]), r[1], str(r[2]), str(r[3]), str(r[4]), float(r[5]), float(r[6]), float(r[7]),
                    json.loads(r[8]), r[9], r[10])
            for r in rows
        ]  # fmt: skip
