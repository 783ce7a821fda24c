"""Face: Prometheus metrics, ``GET /metrics`` (the text exposition format; ``sessions/metrics.py``).

Behind the same token as the rest of the API when ``AUTH_TOKEN`` is set (``edge.needs_token``). With
``AUTH_MODE=keys`` the numbers cover every tenant of the process, so only an ``admin`` key (or user)
may read them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..sessions.metrics import CONTENT_TYPE
from .auth import authenticated, keys_mode, principal
from .http import HttpError, core


async def metrics(request: Request) -> Response:
    if keys_mode(core(request)):
        if not authenticated(request):
            raise HttpError(401, "missing credentials: send Authorization: Bearer <key> or x-api-key", "unauthorized")
        if not principal(request).admin:
            raise HttpError(403, "/metrics covers every tenant: it needs the 'admin' scope", "forbidden")
    return Response(await core(request).metrics_text(), headers={"Content-Type": CONTENT_TYPE})


routes: list[BaseRoute] = [Route("/metrics", metrics, methods=["GET"])]
