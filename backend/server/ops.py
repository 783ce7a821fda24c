"""Face: operator GETs: ``/healthz``, ``/v1/skills`` and the sandbox views."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .http import core, error_response

SANDBOX_VIEWS = ("status", "stats", "logs")


async def healthz(request: Request) -> Response:
    health = await core(request).health()
    return JSONResponse(health, 200 if health.get("status") == "ok" else 503)


async def skills(request: Request) -> Response:
    return JSONResponse({"tools": core(request).describe_tools()})


async def sandbox_view(request: Request) -> Response:
    """``/v1/sandbox/{session_id}/{status|stats|logs}``."""
    action = request.path_params["action"]
    if action not in SANDBOX_VIEWS:
        return error_response(404, "no such endpoint")
    try:
        return JSONResponse(await core(request).sandbox_http(request.path_params["session_id"], action))
    except LookupError as exc:
        return error_response(404, str(exc), "unknown_session")


routes: list[BaseRoute] = [
    Route("/healthz", healthz, methods=["GET", "HEAD"]),
    Route("/v1/skills", skills, methods=["GET"]),
    Route("/v1/sandbox/{session_id}/{action}", sandbox_view, methods=["GET"]),
]
