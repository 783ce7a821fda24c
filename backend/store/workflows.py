"""Workflow definitions (immutable versions), runs, node runs (claimed with a lease) and artifacts.

The methods are ``async`` and run on either engine (SQLite or PostgreSQL) through ``store.db``.
A node run finishes in one transaction together with the run's new state and the node runs it
queues, so after a crash a completed node is never run again, and a node that was running is
claimed again once its lease expires.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from .db import Database, Tx
from .workflow_rows import (
    NODE_COLUMNS,
    RUN_ACTIVE,
    RUN_COLUMNS,
    Artifact,
    NewNodeRun,
    NodeFinish,
    NodeRunRow,
    RunRow,
    WorkflowRow,
    dumps,
    loads,
    node_row,
    run_row,
)

__all__ = ["RUN_ACTIVE", "Artifact", "NewNodeRun", "NodeFinish", "NodeRunRow", "RunRow", "WorkflowRepo", "WorkflowRow"]


class WorkflowRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- definitions ----------------------------------------------------------------------------
    async def save(
        self, workflow_id: str, name: str, description: str, dsl: dict[str, Any], source: str
    ) -> tuple[WorkflowRow, bool]:
        """A new version, unless the latest already has this name, description and DSL. (row, created)."""
        latest = await self.get(workflow_id)
        if latest is not None and latest.dsl == dsl and latest.description == description and latest.name == name:
            return latest, False
        version = 1 if latest is None else latest.version + 1
        now = time.time()
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO workflows (id, version, name, description, dsl, source, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (workflow_id, version, name, description, dumps(dsl), source, now),
            )
        return WorkflowRow(workflow_id, version, name, description, dsl, source, now), True

    async def get(self, workflow_id: str, version: int | None = None) -> WorkflowRow | None:
        sql = "SELECT id, version, name, description, dsl, source, created_at FROM workflows WHERE id = ?"
        params: tuple[Any, ...] = (workflow_id,)
        if version is None:
            sql += " ORDER BY version DESC LIMIT 1"
        else:
            sql += " AND version = ?"
            params += (version,)
        r = await self._db.fetchone(sql, params)
        return WorkflowRow(r[0], r[1], r[2], r[3], loads(r[4]), r[5], r[6]) if r else None

    async def find_by_name(self, name: str) -> WorkflowRow | None:
        r = await self._db.fetchone(
            "SELECT id FROM workflows WHERE lower(name) = lower(?) ORDER BY created_at DESC LIMIT 1", (name,)
        )
        return await self.get(r[0]) if r else None

    async def list_workflows(self) -> list[WorkflowRow]:
        rows = await self._db.fetchall(
            "SELECT w.id, w.version, w.name, w.description, w.dsl, w.source, w.created_at FROM workflows w "
            "JOIN (SELECT id, MAX(version) AS v FROM workflows GROUP BY id) m ON m.id = w.id AND m.v = w.version "
            "ORDER BY w.id"
        )
        return [WorkflowRow(r[0], r[1], r[2], r[3], loads(r[4]), r[5], r[6]) for r in rows]

    # --- runs -----------------------------------------------------------------------------------
    async def create_run(
        self,
        run_id: str,
        workflow: WorkflowRow,
        *,
        session_id: str | None,
        inputs: dict[str, Any],
        state: dict[str, Any],
        max_steps: int,
        source: str,
        start: Sequence[NewNodeRun],
    ) -> RunRow:
        now = time.time()
        async with self._db.transaction() as tx:
            await tx.execute(
                f"INSERT INTO workflow_runs ({RUN_COLUMNS}, counter) "  # noqa: S608
                "VALUES (?, ?, ?, ?, 'queued', ?, ?, NULL, NULL, 0, ?, ?, 0, ?, NULL, 0)",
                (
                    run_id,
                    workflow.id,
                    workflow.version,
                    session_id,
                    dumps(inputs),
                    dumps(state),
                    max_steps,
                    source,
                    now,
                ),
            )
            await self._queue(tx, run_id, start, now)
        run = await self.get_run(run_id)
        assert run is not None
        return run

    async def _queue(self, tx: Tx, run_id: str, items: Sequence[NewNodeRun], now: float) -> None:
        for item in items:
            seq = await self._next(tx, run_id)
            done = await self._next(tx, run_id) if item.status == "skipped" else None
            await tx.execute(
                "INSERT INTO node_runs (id, run_id, node_id, node_type, status, seq, done_seq, attempts, created_at, "
                "finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                (item.id, run_id, item.node_id, item.node_type, item.status, seq, done, now, now if done else None),
            )

    @staticmethod
    async def _next(tx: Tx, run_id: str) -> int:
        row = await tx.fetchone(
            "UPDATE workflow_runs SET counter = counter + 1 WHERE id = ? RETURNING counter", (run_id,)
        )
        assert row is not None
        return int(row[0])

    async def get_run(self, run_id: str) -> RunRow | None:
        r = await self._db.fetchone(f"SELECT {RUN_COLUMNS} FROM workflow_runs WHERE id = ?", (run_id,))  # noqa: S608
        return run_row(r) if r else None

    async def list_runs(self, *, workflow_id: str | None = None, limit: int = 50) -> list[RunRow]:
        sql = f"SELECT {RUN_COLUMNS} FROM workflow_runs"  # noqa: S608
        params: tuple[Any, ...] = ()
        if workflow_id is not None:
            sql += " WHERE workflow_id = ?"
            params = (workflow_id,)
        rows = await self._db.fetchall(sql + " ORDER BY created_at DESC LIMIT ?", (*params, limit))
        return [run_row(r) for r in rows]

    async def active_runs(self) -> list[RunRow]:
        rows = await self._db.fetchall(
            f"SELECT {RUN_COLUMNS} FROM workflow_runs WHERE status IN ('queued', 'running') ORDER BY created_at"  # noqa: S608
        )
        return [run_row(r) for r in rows]

    async def node_runs(self, run_id: str) -> list[NodeRunRow]:
        rows = await self._db.fetchall(
            f"SELECT {NODE_COLUMNS} FROM node_runs WHERE run_id = ? ORDER BY seq",  # noqa: S608
            (run_id,),
        )
        return [node_row(r) for r in rows]

    async def set_run(self, run_id: str, *, status: str, answer: str | None = None, error: str | None = None) -> bool:
        """Set the status of a run that is still active; False when it had already ended (elsewhere)."""
        finished = time.time() if status not in RUN_ACTIVE else None
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE workflow_runs SET status = ?, answer = COALESCE(?, answer), error = COALESCE(?, error), "
                "finished_at = ? WHERE id = ? AND status IN ('queued', 'running')",
                (status, answer, error, finished, run_id),
            )
        return changed > 0

    async def request_cancel(self, run_id: str) -> bool:
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE workflow_runs SET cancel_requested = 1 WHERE id = ? AND status IN ('queued', 'running')",
                (run_id,),
            )
        return changed > 0

    # --- node runs ------------------------------------------------------------------------------
    async def claim(self, run_id: str, owner: str, lease_seconds: float) -> NodeRunRow | None:
        """The next queued node run (or one whose lease expired), now running under ``owner``'s lease.

        A run executes one node at a time, across processes too: the run's row is locked first (an
        UPDATE: a row lock on PostgreSQL, the write lock on SQLite), and nothing is claimed while
        another node of the run holds a live lease. So what comes next is always computed from a
        settled run, never by two processes at once."""
        now = time.time()
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE workflow_runs SET counter = counter WHERE id = ?", (run_id,))
            busy = await tx.fetchone(
                "SELECT 1 FROM node_runs WHERE run_id = ? AND status = 'running' AND lease_expires >= ? LIMIT 1",
                (run_id, now),
            )
            if busy is not None:
                return None
            r = await tx.fetchone(
                "SELECT id FROM node_runs WHERE run_id = ? AND (status = 'queued' OR "
                "(status = 'running' AND lease_expires < ?)) ORDER BY seq LIMIT 1",
                (run_id, now),
            )
            if r is None:
                return None
            changed = await tx.execute(
                "UPDATE node_runs SET status = 'running', lease_owner = ?, lease_expires = ?, attempts = attempts + 1, "
                "started_at = ? WHERE id = ? AND (status = 'queued' OR (status = 'running' AND lease_expires < ?))",
                (owner, now + lease_seconds, now, r[0], now),
            )
            if changed == 0:
                return None
            await tx.execute("UPDATE workflow_runs SET steps = steps + 1, status = 'running' WHERE id = ?", (run_id,))
            row = await tx.fetchone(f"SELECT {NODE_COLUMNS} FROM node_runs WHERE id = ?", (r[0],))  # noqa: S608
        return node_row(row)

    async def lease_wait(self, run_id: str) -> float | None:
        """Seconds until the earliest live lease of another claimant expires (None: nothing is running)."""
        r = await self._db.fetchone(
            "SELECT MIN(lease_expires) FROM node_runs WHERE run_id = ? AND status = 'running'", (run_id,)
        )
        return None if r is None or r[0] is None else max(0.0, float(r[0]) - time.time())

    async def renew(self, node_run_id: str, owner: str, lease_seconds: float) -> bool:
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE node_runs SET lease_expires = ? WHERE id = ? AND lease_owner = ? AND status = 'running'",
                (time.time() + lease_seconds, node_run_id, owner),
            )
        return changed > 0

    async def expire_lease(self, node_run_id: str, owner: str) -> None:
        """The owner is known to be dead: its lease may be taken over now."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE node_runs SET lease_expires = 0 WHERE id = ? AND lease_owner = ? AND status = 'running'",
                (node_run_id, owner),
            )

    async def release(self, owner: str) -> int:
        """Graceful shutdown: node runs this owner was running go back to the queue."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE node_runs SET status = 'queued', lease_owner = NULL, lease_expires = NULL "
                "WHERE status = 'running' AND lease_owner = ?",
                (owner,),
            )
        return changed

    async def save_checkpoint(self, node_run_id: str, data: dict[str, Any], *, question_id: str | None = None) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE node_runs SET checkpoint = ?, question_id = COALESCE(?, question_id) WHERE id = ?",
                (dumps(data), question_id, node_run_id),
            )

    async def node_run_for_question(self, question_id: str) -> NodeRunRow | None:
        r = await self._db.fetchone(
            f"SELECT {NODE_COLUMNS} FROM node_runs WHERE question_id = ?",  # noqa: S608
            (question_id,),
        )
        return node_row(r) if r else None

    async def finish(self, run_id: str, node_run_id: str, owner: str, result: NodeFinish) -> bool:
        """Record a node's end, the run's new state and the node runs it queues, atomically.

        False (nothing written) when this claimant no longer holds the lease."""
        now = time.time()
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE node_runs SET status = ?, output_text = ?, output_json = ?, error = ?, "
                "inputs = COALESCE(?, inputs), finished_at = ?, lease_owner = NULL, lease_expires = NULL "
                "WHERE id = ? AND status = 'running' AND lease_owner = ?",
                (
                    result.status,
                    result.output_text,
                    dumps(result.output_json),
                    result.error,
                    dumps(result.inputs),
                    now,
                    node_run_id,
                    owner,
                ),
            )
            if changed == 0:
                return False
            done = await self._next(tx, run_id)
            await tx.execute("UPDATE node_runs SET done_seq = ? WHERE id = ?", (done, node_run_id))
            if result.state is not None:
                await tx.execute("UPDATE workflow_runs SET state = ? WHERE id = ?", (dumps(result.state), run_id))
            if result.answer is not None:
                await tx.execute("UPDATE workflow_runs SET answer = ? WHERE id = ?", (result.answer, run_id))
            await self._queue(tx, run_id, result.queue, now)
            for artifact in result.artifacts:
                content = artifact.content if isinstance(artifact.content, str) else dumps(artifact.content)
                await tx.execute(
                    "INSERT INTO run_artifacts (run_id, node_run_id, kind, name, content, size, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (run_id, node_run_id, artifact.kind, artifact.name, content, len(content or ""), now),
                )
        return True

    async def skip_queued(self, run_id: str, reason: str) -> int:
        """Cancel: queued node runs become skipped."""
        now = time.time()
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE node_runs SET status = 'skipped', error = ?, finished_at = ? "
                "WHERE run_id = ? AND status = 'queued'",
                (reason, now, run_id),
            )
        return changed

    async def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        rows = await self._db.fetchall(
            "SELECT a.id, a.node_run_id, n.node_id, a.kind, a.name, a.content, a.size, a.created_at "
            "FROM run_artifacts a JOIN node_runs n ON n.id = a.node_run_id WHERE a.run_id = ? ORDER BY a.id",
            (run_id,),
        )
        out = []
        for r in rows:
            content: Any = r[5]
            if r[3] == "json":
                content = loads(content)
            out.append(
                {"id": r[0], "node_run_id": r[1], "node_id": r[2], "kind": r[3], "name": r[4], "content": content,
                 "size": r[6], "created_at": r[7]}
            )  # fmt: skip
        return out
