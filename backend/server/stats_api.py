"""Face: usage and cost (``/v1/stats``), and the earlier streaming agent's ``/stats`` and ``/reset-stats``.

One implementation (``sessions/stats.py``); the earlier routes are views of it: ``/stats`` counts
since the last ``/reset-stats``, which records a moment and deletes nothing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .auth import principal
from .http import HttpError, core

MAX_SESSIONS = 1_000


async def stats(request: Request) -> Response:
    """``GET /v1/stats?since=<epoch seconds>&sessions=<n>``."""
    query = request.query_params
    try:
        since = float(query.get("since") or 0)
        sessions = int(query.get("sessions") or 100)
    except ValueError:
        raise HttpError(400, "'since' must be epoch seconds and 'sessions' an integer") from None
    if since < 0 or not 0 <= sessions <= MAX_SESSIONS:
        raise HttpError(400, f"'since' must be >= 0 and 'sessions' between 0 and {MAX_SESSIONS}")
    tenant = principal(request).tenant  # a caller sees its own tenant's usage, nothing else
    report = await core(request).sessions.services.stats.report(since=since, sessions=sessions, tenant=tenant)
    return JSONResponse(report)


async def legacy_stats(request: Request) -> Response:
    return JSONResponse(await core(request).sessions.services.stats.legacy(principal(request).tenant))


async def reset_stats(request: Request) -> Response:
    return JSONResponse(await core(request).sessions.services.stats.reset_legacy(principal(request).tenant))


routes: list[BaseRoute] = [
    Route("/v1/stats", stats, methods=["GET"]),
    Route("/stats", legacy_stats, methods=["GET"]),
    Route("/reset-stats", reset_stats, methods=["POST"]),
]
