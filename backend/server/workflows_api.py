"""Face: workflows over HTTP (docs/workflows.md): definitions, runs, artifacts, cancel."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import SessionNotFoundError, WorkflowError, WorkflowNotFoundError
from .auth import principal
from .http import HttpError, core, read_json


def _engine(request: Request) -> Any:
    engine = core(request).sessions.services.workflows
    if engine is None:
        raise HttpError(503, "workflows are not enabled on this server")
    return engine


def _fail(exc: WorkflowError) -> HttpError:
    return HttpError(404 if isinstance(exc, WorkflowNotFoundError) else 400, exc.message, exc.code)


async def create_workflow(request: Request) -> Response:
    body = await read_json(request)
    try:
        row, created = await _engine(request).definitions.save(
            body.get("name"), body.get("description"), body.get("dsl")
        )
    except WorkflowError as exc:
        raise _fail(exc) from None
    return JSONResponse({**row.to_json(), "created": created}, 201 if created else 200)


async def list_workflows(request: Request) -> Response:
    rows = await _engine(request).repo.list_workflows()
    return JSONResponse({"workflows": [r.to_json(with_dsl=False) for r in rows]})


async def get_workflow(request: Request) -> Response:
    raw = request.query_params.get("version")
    if raw is not None and not raw.isdigit():
        raise HttpError(400, "version must be a positive integer")
    try:
        row = await _engine(request).definitions.resolve(request.path_params["workflow_id"], int(raw) if raw else None)
    except WorkflowError as exc:
        raise _fail(exc) from None
    return JSONResponse(row.to_json())


async def start_run(request: Request) -> Response:
    body = await read_json(request)
    engine = _engine(request)
    sessions = core(request).sessions
    session_id = body.get("session_id")
    workflow_id = request.path_params["workflow_id"]
    version = body.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise HttpError(400, "version must be an integer")
    try:
        if session_id is None:
            workflow = await engine.definitions.resolve(workflow_id, version)
            session_id = (await sessions.create(title=f"workflow {workflow.name}", caller=principal(request))).id
        else:
            await sessions.get(str(session_id), principal(request))
        run = await engine.start_run(
            workflow_id, body.get("inputs"), session_id=str(session_id), source="api", version=version
        )
    except SessionNotFoundError as exc:
        raise HttpError(404, exc.message, exc.code) from None
    except WorkflowError as exc:
        raise _fail(exc) from None
    return JSONResponse(await engine.describe(run.id), 201)


async def list_runs(request: Request) -> Response:
    engine = _engine(request)
    try:
        workflow = await engine.definitions.resolve(request.path_params["workflow_id"])
    except WorkflowError as exc:
        raise _fail(exc) from None
    runs = await engine.repo.list_runs(workflow_id=workflow.id, limit=50)
    return JSONResponse({"workflow_id": workflow.id, "runs": [r.to_json() for r in runs]})


async def get_run(request: Request) -> Response:
    try:
        return JSONResponse(await _engine(request).describe(request.path_params["run_id"]))
    except WorkflowError as exc:
        raise _fail(exc) from None


async def run_artifacts(request: Request) -> Response:
    engine = _engine(request)
    run_id = request.path_params["run_id"]
    if await engine.repo.get_run(run_id) is None:
        raise HttpError(404, f"no run {run_id!r}", "unknown_workflow")
    return JSONResponse({"run_id": run_id, "artifacts": await engine.repo.artifacts(run_id)})


async def cancel_run(request: Request) -> Response:
    engine = _engine(request)
    try:
        await engine.cancel(request.path_params["run_id"])
        return JSONResponse(await engine.describe(request.path_params["run_id"]), 202)
    except WorkflowError as exc:
        raise _fail(exc) from None


routes: list[BaseRoute] = [
    Route("/v1/workflows", create_workflow, methods=["POST"]),
    Route("/v1/workflows", list_workflows, methods=["GET"]),
    Route("/v1/workflows/{workflow_id}", get_workflow, methods=["GET"]),
    Route("/v1/workflows/{workflow_id}/runs", start_run, methods=["POST"]),
    Route("/v1/workflows/{workflow_id}/runs", list_runs, methods=["GET"]),
    Route("/v1/runs/{run_id}", get_run, methods=["GET"]),
    Route("/v1/runs/{run_id}/artifacts", run_artifacts, methods=["GET"]),
    Route("/v1/runs/{run_id}/cancel", cancel_run, methods=["POST"]),
]
