"""The workflow engine: starts runs and drives each one, node by node, durably.

One driver task per active run (owned here, cancelled by :meth:`WorkflowEngine.close`). A driver
claims the run's next queued node run with a lease (renewed while the node executes), runs its
executor, and records the end together with the run's new state and the node runs that come next
in one transaction (:meth:`backend.store.workflows.WorkflowRepo.finish`). A process that dies
mid-node leaves a running node run whose lease expires (at once when the dead owner was a process
on this host); after a restart :meth:`start` resumes every active run, and only that node runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import socket
import time
import uuid
from collections.abc import Mapping
from typing import Any

from ..errors import SessionNotFoundError, WorkflowError, WorkflowNotFoundError
from ..settings import Settings
from ..store import Store
from ..store.workflows import RUN_ACTIVE, Artifact, NewNodeRun, NodeFinish, NodeRunRow, RunRow, WorkflowRow
from . import dsl
from .definitions import Definitions
from .human import HumanAnswers
from .nodes import EXECUTORS, ModelCaller, NodeContext, NodeResult, WorkflowHost
from .scheduling import aggregate, latest_runs, next_steps

logger = logging.getLogger(__name__)

MAX_DEPTH = 3  # a run started from inside a run (run_workflow in an agent node), at most this deep
SHORT_OUTPUT = 2000
MAX_INPUT_BYTES = 64 * 1024
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("workflow_depth", default=0)


def _short(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= SHORT_OUTPUT else text[:SHORT_OUTPUT] + "…"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkflowEngine:
    def __init__(
        self,
        *,
        store: Store,
        settings: Settings,
        host: WorkflowHost | None = None,
        model: ModelCaller | None = None,
        tools: Any = None,
        sandbox: Any = None,
    ) -> None:
        self.store = store
        self.repo = store.workflows
        self.settings = settings
        self.host = host
        self.model = model
        self.tools = tools
        self.sandbox = sandbox
        self.definitions = Definitions(self.repo, max_nodes=settings.workflow_max_nodes)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._drivers: dict[str, asyncio.Task[None]] = {}
        self._executing: dict[str, asyncio.Task[NodeResult]] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self.humans = HumanAnswers(store, self._emit)
        self._graphs: dict[tuple[str, int], dsl.Graph] = {}
        self._aux: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False
        self.errors = 0  # unexpected failures (logged with a traceback); shown in /healthz

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load workflow files, resume every run a previous process left active, and keep looking
        (every lease period) for active runs nobody here drives: another process of a cluster that
        died mid-run leaves them, and its node's lease expires."""
        await self.definitions.load_dir(self.settings.resolved_workflows_dir)
        await self.adopt_orphans(log=True)
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="workflow-sweeper")

    async def adopt_orphans(self, *, log: bool = False) -> int:
        """Drive every active run that has no driver in this process; how many were adopted."""
        adopted = 0
        for run in await self.repo.active_runs():
            if run.id not in self._drivers and not self._closed:
                if log:
                    logger.info("resuming workflow run %s (%s)", run.id, run.workflow_id)
                self._spawn(run.id)
                adopted += 1
        return adopted

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.settings.workflow_lease_seconds)
            try:
                await self.adopt_orphans()
            except Exception:  # the store is briefly unavailable: try again next period
                self.errors += 1
                logger.exception("workflow sweeper failed")

    async def close(self) -> None:
        """Stop driving (runs stay active in the store and resume at the next start)."""
        self._closed = True
        tasks = [*self._drivers.values(), *self._aux, *([self._sweeper] if self._sweeper else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._drivers.clear()
        released = await self.repo.release(self.owner)
        if released:
            logger.info("released %d running workflow node(s); they run again at the next start", released)

    def health(self) -> dict[str, Any]:
        return {"active_runs": len(self._drivers), "errors": self.errors}

    # --- runs -----------------------------------------------------------------------------------
    async def start_run(
        self,
        ref: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        session_id: str | None = None,
        source: str = "api",
        version: int | None = None,
    ) -> RunRow:
        if _depth.get() >= MAX_DEPTH:
            raise WorkflowError(f"workflows started from workflows are limited to {MAX_DEPTH} levels")
        workflow = await self.definitions.resolve(ref, version)
        graph = self._graph(workflow)
        if inputs is not None and not isinstance(inputs, Mapping):
            raise WorkflowError("inputs must be a JSON object")
        data = dict(inputs or {})
        if len(repr(data)) > MAX_INPUT_BYTES:
            raise WorkflowError(f"inputs are larger than {MAX_INPUT_BYTES} bytes")
        ceiling = self.settings.workflow_max_steps
        max_steps = min(graph.max_steps or ceiling, ceiling)
        run_id = uuid.uuid4().hex[:16]
        start = [NewNodeRun(uuid.uuid4().hex[:16], nid, graph.nodes[nid].type) for nid in graph.starts]
        run = await self.repo.create_run(
            run_id, workflow, session_id=session_id, inputs=data, state=dict(data), max_steps=max_steps,
            source=source, start=start,
        )  # fmt: skip
        await self._emit(run, "workflow_run", status="running", name=workflow.name, graph=graph.summary())
        self._spawn(run_id)
        return run

    async def wait(self, run_id: str, timeout: float | None = None) -> RunRow:
        """The run once it has finished (completed, failed or cancelled)."""
        run = await self._get(run_id)
        if run.status in RUN_ACTIVE:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(run_id, []).append(future)
            if run_id not in self._drivers:
                self._spawn(run_id)
            await asyncio.wait_for(future, timeout)
            run = await self._get(run_id)
        return run

    async def cancel(self, run_id: str) -> RunRow:
        run = await self._get(run_id)
        if await self.repo.request_cancel(run_id):
            task = self._executing.get(run_id)
            if task is not None:
                task.cancel()
            if run_id not in self._drivers:
                self._spawn(run_id)
        return run

    def cancel_soon(self, run_id: str) -> None:
        """Cancel from synchronous code (a turn's stop button); the task is owned and awaited here."""
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self.cancel(run_id), name=f"workflow-cancel-{run_id}")
        self._aux.add(task)
        task.add_done_callback(self._aux_done)

    def _aux_done(self, task: asyncio.Task[Any]) -> None:
        self._aux.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors += 1
            logger.error("workflow cancel failed: %s", task.exception())

    async def describe(self, run_id: str) -> dict[str, Any]:
        run = await self._get(run_id)
        doc = run.to_json()
        workflow = await self.repo.get(run.workflow_id, run.version)
        if workflow is not None:
            doc["name"] = workflow.name
            doc["graph"] = self._graph(workflow).summary()
        doc["node_runs"] = [n.to_json() for n in await self.repo.node_runs(run_id)]
        return doc

    async def answer(self, question_id: str, content: str) -> bool:
        """Deliver an answer to a human node (live, or after a restart). False: not a workflow's question."""
        return await self.humans.answer(question_id, content)

    async def _get(self, run_id: str) -> RunRow:
        run = await self.repo.get_run(run_id)
        if run is None:
            raise WorkflowNotFoundError(f"no run {run_id!r}")
        return run

    # --- driving ----------------------------------------------------------------------------------
    def _spawn(self, run_id: str) -> None:
        if self._closed or run_id in self._drivers:
            return
        task = asyncio.get_running_loop().create_task(self._drive(run_id), name=f"workflow-run-{run_id}")
        self._drivers[run_id] = task
        task.add_done_callback(lambda _t: self._drivers.pop(run_id, None))

    def _graph(self, workflow: WorkflowRow) -> dsl.Graph:
        key = (workflow.id, workflow.version)
        graph = self._graphs.get(key)
        if graph is None:
            graph = self._graphs[key] = dsl.parse(workflow.dsl, max_nodes=1 << 30, max_edges=1 << 30)
        return graph

    async def _drive(self, run_id: str) -> None:
        _depth.set(_depth.get() + 1)
        try:
            while True:
                run = await self.repo.get_run(run_id)
                if run is None or run.status not in RUN_ACTIVE:
                    return
                if run.cancel_requested:
                    await self._finish_run(run, cancelled=True)
                    return
                await self._expire_dead_owners(run_id)
                node_run = await self.repo.claim(run_id, self.owner, self.settings.workflow_lease_seconds)
                if node_run is None:
                    wait = await self.repo.lease_wait(run_id)
                    if wait is None:
                        await self._finish_run(run)
                        return
                    await asyncio.sleep(min(wait + 0.05, self.settings.workflow_lease_seconds))
                    continue
                failed = await self._execute(node_run)
                if failed:
                    await self.repo.skip_queued(run_id, "the run failed")
        except asyncio.CancelledError:
            raise
        except Exception:
            self.errors += 1
            logger.exception("workflow run %s: the driver failed", run_id)
            with contextlib.suppress(Exception):
                await self.repo.skip_queued(run_id, "the run failed")
                await self.repo.set_run(run_id, status="failed", error="internal error (see the server log)")
        finally:
            for future in self._waiters.pop(run_id, []):
                if not future.done():
                    future.set_result(None)

    async def _expire_dead_owners(self, run_id: str) -> None:
        """A lease held by a dead process on this host (a crash before a restart) need not be waited out."""
        host = socket.gethostname()
        for node_run in await self.repo.node_runs(run_id):
            owner = node_run.lease_owner
            if node_run.status != "running" or not owner or owner == self.owner:
                continue
            owner_host, _, rest = owner.partition(":")
            pid = rest.partition(":")[0]
            if owner_host == host and pid.isdigit() and not _pid_alive(int(pid)):
                await self.repo.expire_lease(node_run.id, owner)

    async def _execute(self, node_run: NodeRunRow) -> bool:
        """Run one claimed node run; True when it failed (the run stops)."""
        run = await self._get(node_run.run_id)
        workflow = await self.repo.get(run.workflow_id, run.version)
        assert workflow is not None
        graph = self._graph(workflow)
        node = graph.nodes[node_run.node_id]
        await self._emit(
            run,
            "node_run",
            node_run_id=node_run.id,
            node_id=node.id,
            node_type=node.type,
            status="running",
            attempt=node_run.attempts,
        )
        runs = await self.repo.node_runs(run.id)
        if run.steps > run.max_steps:
            result: NodeResult | None = None
            error: str | None = f"the run reached max_steps ({run.max_steps}); a loop did not end"
        else:
            result, error = await self._run_executor(run, node_run, node, graph, runs)
        status = "failed" if error is not None else "completed"
        route = result.route if result is not None else None
        state = None
        if result is not None and result.state_updates:
            state = {**run.state, **result.state_updates}
        queue: list[NewNodeRun] = []
        if status == "completed":
            for target, decision in next_steps(graph, node.id, status, route, latest_runs(runs)):
                queue.append(NewNodeRun(uuid.uuid4().hex[:16], target, graph.nodes[target].type, decision))
        artifacts = [Artifact(kind, name, content) for kind, name, content in (result.artifacts if result else [])]
        if result is not None and result.answer is not None:
            artifacts.append(Artifact("text", f"{node.id}.answer.txt", result.answer))
        finish = NodeFinish(
            status=status,
            output_text=result.output_text if result else None,
            output_json=result.output_json if result else None,
            error=error,
            inputs=result.inputs if result else None,
            state=state,
            queue=queue,
            artifacts=artifacts,
            answer=result.answer if result else None,
        )
        if not await self.repo.finish(run.id, node_run.id, self.owner, finish):
            logger.warning("workflow run %s: lost the lease of node %s; its result is dropped", run.id, node.id)
            return False
        fields: dict[str, Any] = {"output": _short(finish.output_text), "error": error}
        if node_run.started_at is not None:
            fields["duration_ms"] = round((time.time() - node_run.started_at) * 1000, 1)
        await self._emit(
            run, "node_run", node_run_id=node_run.id, node_id=node.id, node_type=node.type, status=status, **fields
        )
        for item in queue:
            if item.status == "skipped":
                await self._emit(
                    run,
                    "node_run",
                    node_run_id=item.id,
                    node_id=item.node_id,
                    node_type=item.node_type,
                    status="skipped",
                )
        return status == "failed"

    async def _run_executor(
        self, run: RunRow, node_run: NodeRunRow, node: dsl.Node, graph: dsl.Graph, runs: list[NodeRunRow]
    ) -> tuple[NodeResult | None, str | None]:
        latest: dict[str, dict[str, Any]] = {}
        for r in runs:
            if r.status in ("completed", "skipped", "failed"):
                output = r.output_json if r.output_json is not None else {}
                latest[r.node_id] = {"output": output, "text": r.output_text or "", "status": r.status}
        ctx = NodeContext(
            node=node, graph=graph, run_id=run.id, node_run_id=node_run.id, session_id=run.session_id,
            state=dict(run.state), inputs=dict(run.inputs), nodes=latest, settings=self.settings, host=self.host,
            model=self.model, tools=self.tools, sandbox=self.sandbox, store=self.store, checkpoint=node_run.checkpoint,
            save_checkpoint=lambda data, qid: self.repo.save_checkpoint(node_run.id, data, question_id=qid),
            wait_answer=self.humans.wait,
        )  # fmt: skip
        task = asyncio.get_running_loop().create_task(EXECUTORS[node.kind](ctx))
        self._executing[run.id] = task
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(node_run.id))
        try:
            return await task, None
        except WorkflowError as exc:
            return None, exc.message
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if me is not None and me.cancelling():  # this driver is being stopped (shutdown)
                task.cancel()
                raise
            await self.humans.close_cancelled(run, node_run.id)
            return None, "cancelled"  # only the node's task was cancelled: POST /v1/runs/{id}/cancel
        except Exception as exc:  # a bug in an executor: the node fails, the server goes on
            self.errors += 1
            logger.exception("workflow run %s: node %s crashed", run.id, node.id)
            return None, f"internal error: {type(exc).__name__}: {exc}"
        finally:
            heartbeat.cancel()
            self._executing.pop(run.id, None)

    async def _heartbeat(self, node_run_id: str) -> None:
        lease = self.settings.workflow_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            if not await self.repo.renew(node_run_id, self.owner, lease):
                return

    async def _finish_run(self, run: RunRow, *, cancelled: bool = False) -> None:
        if cancelled:
            await self.repo.skip_queued(run.id, "cancelled")
        runs = await self.repo.node_runs(run.id)
        status = aggregate((r.status for r in runs), cancelled=cancelled)
        if status == "running":  # nothing claimable and nothing running, yet queued: cannot happen
            status = "failed"
        failed = next((r for r in runs if r.status == "failed"), None)
        error = f"node {failed.node_id!r}: {failed.error}" if failed is not None else None
        answer = run.answer
        if answer is None and status == "completed":
            done = [r for r in runs if r.status == "completed" and r.output_text]
            answer = max(done, key=lambda r: r.done_seq or 0).output_text if done else None
        if not await self.repo.set_run(run.id, status=status, answer=answer, error=error):
            return  # another process ended it first (and told the session)
        await self._emit(run, "workflow_run", status=status, answer=_short(answer), error=error, steps=run.steps)

    async def _emit(self, run: RunRow, type_: str, **fields: Any) -> None:
        if self.host is None or run.session_id is None:
            return
        base = (
            {"run_id": run.id, "workflow_id": run.workflow_id, "version": run.version}
            if type_ != "question_closed"
            else {}
        )
        try:
            await self.host.emit(run.session_id, type_, **base, **fields)
        except SessionNotFoundError:  # the session was deleted: the run goes on, unseen
            logger.info("workflow run %s: session %s is gone; %s not shown", run.id, run.session_id, type_)
        except Exception:
            self.errors += 1
            logger.exception("workflow run %s: could not emit %s", run.id, type_)
