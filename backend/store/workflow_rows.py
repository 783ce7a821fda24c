"""Rows of the workflow tables, as the engine and the HTTP API see them (no SQL here)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

RUN_ACTIVE = ("queued", "running")


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass(frozen=True, slots=True)
class WorkflowRow:
    id: str
    version: int
    name: str
    description: str
    dsl: dict[str, Any]
    source: str
    created_at: float

    def to_json(self, *, with_dsl: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "version": self.version,
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "created_at": self.created_at,
        }
        if with_dsl:
            out["dsl"] = self.dsl
        return out


@dataclass(frozen=True, slots=True)
class RunRow:
    id: str
    workflow_id: str
    version: int
    session_id: str | None
    status: str
    inputs: dict[str, Any]
    state: dict[str, Any]
    answer: str | None
    error: str | None
    steps: int
    max_steps: int
    source: str
    cancel_requested: bool
    created_at: float
    finished_at: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow_id": self.workflow_id,
            "version": self.version,
            "session_id": self.session_id,
            "status": self.status,
            "inputs": self.inputs,
            "state": self.state,
            "answer": self.answer,
            "error": self.error,
            "steps": self.steps,
            "max_steps": self.max_steps,
            "source": self.source,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
        }


@dataclass(frozen=True, slots=True)
class NodeRunRow:
    id: str
    run_id: str
    node_id: str
    node_type: str
    status: str  # queued | running | completed | failed | skipped
    seq: int  # creation order within the run
    done_seq: int | None  # order of finishing within the run (same counter)
    attempts: int
    inputs: Any
    output_text: str | None
    output_json: Any
    error: str | None
    checkpoint: Any
    lease_owner: str | None
    lease_expires: float | None
    created_at: float
    started_at: float | None
    finished_at: float | None

    def to_json(self) -> dict[str, Any]:
        duration = None
        if self.started_at is not None and self.finished_at is not None:
            duration = round((self.finished_at - self.started_at) * 1000, 1)
        return {
            "id": self.id,
            "node_id": self.node_id,
            "node_type": self.node_type,
            "status": self.status,
            "attempts": self.attempts,
            "inputs": self.inputs,
            "output_text": self.output_text,
            "output_json": self.output_json,
            "error": self.error,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_ms": duration,
        }


@dataclass(frozen=True, slots=True)
class NewNodeRun:
    id: str
    node_id: str
    node_type: str
    status: str = "queued"  # or "skipped"


@dataclass(frozen=True, slots=True)
class Artifact:
    kind: str  # text | json | file
    name: str
    content: Any


@dataclass
class NodeFinish:
    """Everything one finished node changes, written in one transaction."""

    status: str  # completed | failed | skipped
    output_text: str | None = None
    output_json: Any = None
    error: str | None = None
    inputs: Any = None
    state: dict[str, Any] | None = None  # the run's new state, when the node changed it
    queue: Sequence[NewNodeRun] = ()
    artifacts: Sequence[Artifact] = ()
    answer: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


RUN_COLUMNS = (
    "id, workflow_id, version, session_id, status, inputs, state, answer, error, steps, max_steps, source, "
    "cancel_requested, created_at, finished_at"
)
NODE_COLUMNS = (
    "id, run_id, node_id, node_type, status, seq, done_seq, attempts, inputs, output_text, output_json, error, "
    "checkpoint, lease_owner, lease_expires, created_at, started_at, finished_at"
)


def run_row(r: Any) -> RunRow:
    return RunRow(
        r[0], r[1], r[2], r[3], r[4], loads(r[5]) or {}, loads(r[6]) or {}, r[7], r[8], r[9], r[10], r[11],
        bool(r[12]), r[13], r[14],
    )  # fmt: skip


def node_row(r: Any) -> NodeRunRow:
    return NodeRunRow(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], loads(r[8]), r[9], loads(r[10]), r[11], loads(r[12]),
        r[13], r[14], r[15], r[16], r[17],
    )  # fmt: skip
