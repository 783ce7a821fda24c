"""Face: the native session API over HTTP (docs/http-api.md, "Sessions and the event stream")."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .http import core


async def list_sessions(request: Request) -> Response:
    return JSONResponse({"sessions": await core(request).sessions.list()})


routes: list[BaseRoute] = [
    Route("/v1/sessions", list_sessions, methods=["GET"]),
]
