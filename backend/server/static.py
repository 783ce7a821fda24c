"""Face: the browser client's files (``frontend/``), with the page's security headers.

The catch-all ``GET /{path}`` route: it must stay LAST in ``server/routes.py``.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .http import PAGE_CSP, SECURITY_HEADERS, core, error_response


def resolve_static(static_dir: Path, route: str) -> Path | None:
    """The file for a URL path inside ``static_dir``, or None (outside it, hidden, node_modules)."""
    root = static_dir.resolve()
    relative = "index.html" if route in ("", "/") else route.lstrip("/")
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    parts = candidate.relative_to(root).parts
    if any(part.startswith(".") for part in parts) or "node_modules" in parts:
        return None
    return candidate


async def static_file(request: Request) -> Response:
    candidate = resolve_static(core(request).settings.static_dir, request.url.path)
    if candidate is None:
        return error_response(404, "not found")
    content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
        content_type += "; charset=utf-8"
    headers = dict(SECURITY_HEADERS)
    if candidate.suffix == ".html":
        headers["Content-Security-Policy"] = PAGE_CSP
        headers["Cache-Control"] = "no-cache"
    else:
        headers["Cache-Control"] = "public, max-age=300" if "vendor" in candidate.parts else "no-cache"
    # uvicorn sends no body for HEAD; Content-Length stays that of GET
    return Response(candidate.read_bytes(), 200, headers=headers, media_type=content_type)


routes: list[BaseRoute] = [Route("/{path:path}", static_file, methods=["GET", "HEAD"])]
