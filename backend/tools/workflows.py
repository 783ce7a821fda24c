"""Workflow tools: the agents can list the saved workflows and run one, like ``/run`` in the chat.

The run streams its ``workflow_run`` / ``node_run`` events into the session; the tool returns
the run's answer (or how it ended), short enough for a 4096-token budget.
"""

from __future__ import annotations

from typing import Annotated, Any

from ..errors import ToolError, WorkflowError
from .registry import ToolDeps

WAIT_SECONDS = 300.0
ANSWER_CHARS = 2000
MAX_LISTED = 30


def _engine(deps: ToolDeps) -> Any:
    if deps.workflows is None:
        raise ToolError("workflows are not available on this server")
    return deps.workflows


async def list_workflows(deps: ToolDeps) -> str:
    """List the saved workflows (id, version, description) that run_workflow can run."""
    rows = await _engine(deps).repo.list_workflows()
    if not rows:
        return "No workflows are saved."
    lines = [f"- {r.id} (v{r.version}): {r.description or r.name}"[:200] for r in rows[:MAX_LISTED]]
    more = f"\n({len(rows) - MAX_LISTED} more)" if len(rows) > MAX_LISTED else ""
    return "\n".join(lines) + more


async def run_workflow(
    deps: ToolDeps,
    workflow: Annotated[str, "the workflow's id or name, e.g. daily-report"],
    inputs: Annotated[dict[str, Any] | None, "the run's inputs (a JSON object), seeded into its state"] = None,
) -> str:
    """Run a saved workflow (a declarative graph of steps) to the end and return its answer."""
    engine = _engine(deps)
    try:
        run = await engine.start_run(workflow, inputs or {}, session_id=deps.session_id, source="tool")
    except WorkflowError as exc:
        raise ToolError(exc.message) from None
    try:
        finished = await engine.wait(run.id, timeout=WAIT_SECONDS)
    except TimeoutError:
        return f"The workflow run {run.id} is still running after {WAIT_SECONDS:g} s; its events keep arriving."
    if finished.status == "completed":
        return (finished.answer or "(completed without an answer)")[:ANSWER_CHARS]
    raise ToolError(f"the workflow run ended {finished.status}: {finished.error or 'no error recorded'}"[:ANSWER_CHARS])


TOOLS = [list_workflows, run_workflow]
