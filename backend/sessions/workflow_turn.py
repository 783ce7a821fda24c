"""The explicit workflow mode: ``/run <workflow> [json inputs]`` runs a workflow as the turn.

The run streams ``workflow_run`` / ``node_run`` events (and whatever its agent and human nodes
emit) into the session; the turn waits for the run to end, then answers with the run's answer.
Stop cancels the run. A restart mid-run ends the turn as interrupted, as any turn, while the run
itself resumes in the background and still reports into the session.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..errors import WorkflowError
from ..workflows.commands import parse_run_command
from .turns import NOTE_CHARS, Turn

if TYPE_CHECKING:
    from .session import Session


async def run_workflow_turn(session: Session, turn: Turn) -> None:
    engine = session.services.workflows
    assert engine is not None
    try:
        ref, inputs = parse_run_command(turn.content)
        run = await engine.start_run(ref, inputs, session_id=session.id, source="chat")
    except WorkflowError as exc:
        session.emit("error", code=exc.code, message=exc.message)
        await session.finish_turn(turn, "error", source="workflow", note=f"[/run failed: {exc.message}]")
        return
    turn.token.add_callback(lambda: engine.cancel_soon(run.id))
    finished = await engine.wait(run.id)
    if finished.status == "completed":
        text = finished.answer or "(the workflow completed without an answer)"
        status = "ok"
    else:
        text = f"The workflow `{finished.workflow_id}` ended {finished.status}" + (
            f": {finished.error}" if finished.error else "."
        )
        status = "cancelled" if finished.status == "cancelled" else "error"
    session.emit("response", content=text, agent="workflow")
    note = (
        f"[The user ran the workflow `{finished.workflow_id}` with inputs {json.dumps(inputs)[:200]}; "
        f"it ended {finished.status}.]\n{text[:NOTE_CHARS]}"
    )
    await session.finish_turn(turn, status, source="workflow", note=note)


async def run_from_reminder(session: Session, message: str) -> None:
    """A reminder whose message is ``/run <workflow> [inputs]`` starts that run in its session."""
    engine = session.services.workflows
    if engine is None:
        return
    try:
        ref, inputs = parse_run_command(message)
        await engine.start_run(ref, inputs, session_id=session.id, source="reminder")
    except WorkflowError as exc:
        session.emit("error", code=exc.code, message=f"the reminder could not run its workflow: {exc.message}")
