"""Plain HTTP GETs served on the WebSocket port: health, tool listing, operator views, static files.

Pure request -> reply logic with no ``websockets`` import; ``server/app.py`` turns an
:class:`HttpReply` into a handshake response.
"""

from __future__ import annotations

import hmac
import json
import mimetypes
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

JsonProvider = Callable[..., Awaitable[Any]]

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# The page loads nothing from elsewhere and runs only its own scripts.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any) -> HttpReply:
        return cls(status, json.dumps(data, ensure_ascii=False, default=str).encode(), "application/json")

    @classmethod
    def error(cls, status: int, message: str) -> HttpReply:
        return cls.json(status, {"error": message})


def query_token(path: str) -> str | None:
    values = parse_qs(urlsplit(path).query).get("token")
    return values[0] if values else None


def token_matches(expected: str | None, presented: str | None) -> bool:
    if not expected:
        return True
    return presented is not None and hmac.compare_digest(expected.encode(), presented.encode())


def bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("Authorization") or ""
    return value[7:].strip() if value.lower().startswith("bearer ") else None


class HttpRoutes:
    """Routes GET requests that are not WebSocket upgrades."""

    def __init__(
        self,
        *,
        static_dir: Path,
        auth_token: str | None,
        health: JsonProvider,
        skills: JsonProvider,
        sessions: JsonProvider,
        sandbox: Callable[[str, str], Awaitable[Any]],
    ) -> None:
        self._static = static_dir.resolve()
        self._auth_token = auth_token
        self._health = health
        self._skills = skills
        self._sessions = sessions
        self._sandbox = sandbox

    async def handle(self, method: str, path: str, headers: Mapping[str, str]) -> HttpReply:
        if method not in ("GET", "HEAD"):
            return HttpReply.error(405, "only GET is served here")
        route = urlsplit(path).path
        if route == "/healthz":
            health = await self._health()
            return HttpReply.json(200 if health.get("status") == "ok" else 503, health)
        if route.startswith("/v1/"):
            if not token_matches(self._auth_token, bearer(headers) or query_token(path)):
                return HttpReply.error(401, "missing or wrong token")
            return await self._api(route)
        return self._static_file(route)

    async def _api(self, route: str) -> HttpReply:
        if route == "/v1/skills":
            return HttpReply.json(200, {"tools": await self._skills()})
        if route == "/v1/sessions":
            return HttpReply.json(200, {"sessions": await self._sessions()})
        parts = route.strip("/").split("/")
        # /v1/sandbox/<session_id>/<status|stats|logs>
        if len(parts) == 4 and parts[1] == "sandbox" and parts[3] in ("status", "stats", "logs"):
            try:
                return HttpReply.json(200, await self._sandbox(parts[2], parts[3]))
            except LookupError as exc:
                return HttpReply.error(404, str(exc))
        return HttpReply.error(404, "no such endpoint")

    def _static_file(self, route: str) -> HttpReply:
        relative = "index.html" if route in ("", "/") else route.lstrip("/")
        candidate = (self._static / relative).resolve()
        if not candidate.is_relative_to(self._static) or not candidate.is_file():
            return HttpReply.error(404, "not found")
        if any(part.startswith(".") for part in candidate.relative_to(self._static).parts):
            return HttpReply.error(404, "not found")
        if "node_modules" in candidate.relative_to(self._static).parts:
            return HttpReply.error(404, "not found")
        content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
            content_type += "; charset=utf-8"
        headers = dict(SECURITY_HEADERS)
        if candidate.suffix == ".html":
            headers["Content-Security-Policy"] = PAGE_CSP
            headers["Cache-Control"] = "no-cache"
        else:
            headers["Cache-Control"] = "public, max-age=300" if "vendor" in candidate.parts else "no-cache"
        return HttpReply(200, candidate.read_bytes(), content_type, headers)
