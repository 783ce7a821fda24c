"""Face: operator GETs: ``/healthz`` and ``/v1/skills`` (the sandbox views are in ``sandbox_api``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .http import core


async def healthz(request: Request) -> Response:
    health = await core(request).health()
    return JSONResponse(health, 200 if health.get("status") == "ok" else 503)


async def skills(request: Request) -> Response:
    app = core(request)
    # every agent's fixed prompt (system message + its built-in tool schemas) in tokens: what each
    # request costs before the conversation (MCP tools add theirs, within MAX_FIXED_SHARE)
    fixed = app.factory.fixed_prompt_tokens()
    return JSONResponse({"tools": await app.describe_tools(), "fixed_prompt_tokens": fixed})


routes: list[BaseRoute] = [
    Route("/healthz", healthz, methods=["GET", "HEAD"]),
    Route("/v1/skills", skills, methods=["GET"]),
]
