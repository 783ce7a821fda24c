"""Face: Prometheus metrics, ``GET /metrics`` (the text exposition format; ``sessions/metrics.py``).

Behind the same token as the rest of the API when ``AUTH_TOKEN`` is set (``edge.needs_token``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..sessions.metrics import CONTENT_TYPE
from .http import core


async def metrics(request: Request) -> Response:
    return Response(await core(request).metrics_text(), headers={"Content-Type": CONTENT_TYPE})


routes: list[BaseRoute] = [Route("/metrics", metrics, methods=["GET"])]
