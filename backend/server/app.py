"""The WebSocket server: one port for the socket (``/`` and ``/ws``) and a few HTTP GETs.

``process_request`` decides, before any upgrade, between: an HTTP reply (health, skills, static
files), a refusal (foreign Origin 403, wrong token 401), or the WebSocket handshake.
"""

from __future__ import annotations

import asyncio
import http
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

import httpx
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from .. import __version__
from ..errors import AgentChatError, SandboxUnavailableError
from ..protocol import PROTOCOL_VERSION
from ..sessions.hub import EventHub
from ..sessions.registry import SessionRegistry
from ..sessions.session import Session
from ..settings import Endpoint, Settings
from ..store import Store
from ..team.builder import TeamFactory
from ..tools.registry import ToolRegistry
from .connection import Connection
from .http import HttpReply, HttpRoutes, query_token, token_matches

logger = logging.getLogger(__name__)

WS_PATHS = ("/", "/ws")
HEALTH_CACHE_SECONDS = 5.0


class App:
    """Everything the server needs, passed in by the composition root (``backend/main.py``)."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        hub: EventHub,
        sessions: SessionRegistry,
        tools: ToolRegistry,
        factory: TeamFactory,
        endpoint: Endpoint,
        sandbox: Any = None,
        embedded: Any = None,
        scheduler: Any = None,
        loop_lag: Any = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.sessions = sessions
        self.tools = tools
        self.factory = factory
        self.endpoint = endpoint
        self.sandbox = sandbox
        self.embedded = embedded
        self.scheduler = scheduler
        self.loop_lag = loop_lag
        self.started = time.time()
        self.connections: set[Connection] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._health_cache: tuple[float, bool] | None = None
        self.routes = HttpRoutes(
            static_dir=settings.static_dir,
            auth_token=settings.auth_token,
            health=self.health,
            skills=self.skills,
            sessions=self.sessions_json,
            sandbox=self.sandbox_http,
        )
        self.server: Server | None = None

    # --- background tasks -------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- server -------------------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        self.server = await serve(
            self.handler,
            s.host,
            s.port,
            process_request=self.process_request,
            max_size=s.max_message_bytes,
            ping_interval=s.ping_interval,
            ping_timeout=s.ping_timeout,
            compression=None,
            max_queue=32,
            server_header=f"agentchat/{__version__}",
        )

    @property
    def port(self) -> int:
        assert self.server is not None
        sock = next(iter(self.server.sockets))
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close(close_connections=True)
            await self.server.wait_closed()
        for task in list(self._tasks):
            task.cancel()

    async def handler(self, ws: ServerConnection) -> None:
        request = ws.request
        authenticated = not self.settings.auth_token or (
            request is not None and token_matches(self.settings.auth_token, query_token(request.path))
        )
        conn = Connection(ws, self, authenticated=authenticated)
        self.connections.add(conn)
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)

    async def process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
        if not upgrade:
            reply = await self.routes.handle("GET", request.path, request.headers)
            return _response(reply)
        if path not in WS_PATHS:
            return _response(HttpReply.error(404, f"no WebSocket endpoint at {path}; use / or /ws"))
        if not self.origin_allowed(request.headers):
            logger.info("refused WebSocket from origin %s", request.headers.get("Origin"))
            return _response(HttpReply.error(403, "origin not allowed"))
        token = query_token(request.path)
        if self.settings.auth_token and token is not None and not token_matches(self.settings.auth_token, token):
            return _response(HttpReply.error(401, "wrong token"))
        return None

    def origin_allowed(self, headers: Headers) -> bool:
        """No Origin (CLI clients), the page's own origin, or one listed in ALLOWED_ORIGINS."""
        origin = headers.get("Origin")
        if origin is None:
            return True
        if origin in self.settings.allowed_origins or "*" in self.settings.allowed_origins:
            return True
        if origin == "null":
            return False
        host = headers.get("Host", "")
        return urlsplit(origin).netloc.lower() == host.lower() and host != ""

    # --- data for the HTTP routes and the protocol -------------------------------------------------
    async def health(self) -> dict[str, Any]:
        reachable = await self.model_reachable()
        sandbox = self.sandbox.health() if self.sandbox is not None else {"available": False, "reason": "disabled"}
        data: dict[str, Any] = {
            "status": "ok",
            "version": __version__,
            "protocol": PROTOCOL_VERSION,
            "uptime_s": round(time.time() - self.started, 1),
            "model": {
                "endpoint": self.endpoint.base_url,
                "model": self.endpoint.model,
                "source": self.endpoint.source,
                "reachable": reachable,
            },
            "team": self.factory.spec.name,
            "sessions": {
                "active": self.sessions.live_count,
                "running": self.sessions.running_count(),
                "stored": self.store.sessions.count(),
                "connections": len(self.connections),
            },
            "sandbox": sandbox,
            "events": {"written": self.hub.events_written, "batches": self.hub.batches_written},
        }
        if self.loop_lag is not None:
            data["loop_lag"] = self.loop_lag.snapshot()
        if self.embedded is not None:
            data["embedded"] = self.embedded.health()
        return data

    async def model_reachable(self) -> bool:
        now = time.monotonic()
        if self._health_cache is not None and now - self._health_cache[0] < HEALTH_CACHE_SECONDS:
            return self._health_cache[1]
        url = self.endpoint.base_url.rstrip("/") + "/models"
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                response = await client.get(url, headers={"Authorization": f"Bearer {self.endpoint.api_key}"})
            ok = response.status_code < 500
        except httpx.HTTPError:
            ok = False
        self._health_cache = (now, ok)
        return ok

    def describe_tools(self) -> list[dict[str, Any]]:
        holders = self.factory.agents_holding()
        return [{**spec.describe(), "agents": holders.get(spec.name, [])} for spec in self.tools.specs()]

    async def skills(self) -> list[dict[str, Any]]:
        return self.describe_tools()

    async def sessions_json(self) -> list[dict[str, Any]]:
        return self.sessions.list()

    def todos_snapshot(self, session_id: str, status: str = "all") -> list[dict[str, Any]]:
        rows = self.store.todos.list(session_id, None if status == "all" else status)
        return [row.to_dict() for row in rows]

    def reminders_snapshot(self, session_id: str) -> list[dict[str, Any]]:
        return [row.to_dict() for row in self.store.reminders.list(session_id)]

    async def run_client_tool(self, session: Session, name: str, request: Any, conn: Connection) -> None:
        """A protocol message that does what a tool does, without the model (todos, reminders)."""
        spec = self.tools.get(name)
        args = {k: v for k, v in request.model_dump().items() if k in spec.args_model.model_fields}
        try:
            result = await spec.func(session.deps, **spec.args_model.model_validate(args).model_dump())
        except AgentChatError:
            raise
        self.hub.flush()  # the todos/reminders event it caused goes out first
        conn.reply({"type": "tool_done", "session_id": session.id, "seq": None, "name": name, "result": result})

    async def sandbox_action(self, session_id: str, action: str, *, tail: int = 200) -> dict[str, Any]:
        if self.sandbox is None:
            raise SandboxUnavailableError("sandbox unavailable: disabled (SANDBOX_ENABLED=0)")
        if action == "status":
            return dict(await self.sandbox.status(session_id))
        if action == "stats":
            return dict(await self.sandbox.stats(session_id))
        if action == "logs":
            return {"logs": await self.sandbox.logs(session_id, tail=tail)}
        if action == "reset":
            return dict(await self.sandbox.reset(session_id))
        raise AgentChatError(f"unknown sandbox action {action!r}", code="bad_request")

    async def sandbox_http(self, session_id: str, action: str) -> Any:
        if self.store.sessions.get(session_id) is None:
            raise LookupError(f"unknown session {session_id!r}")
        try:
            return await self.sandbox_action(session_id, action)
        except AgentChatError as exc:
            return {"error": exc.message, "code": exc.code}


def _response(reply: HttpReply) -> Response:
    headers = Headers()
    headers["Content-Type"] = reply.content_type
    headers["Content-Length"] = str(len(reply.body))
    for key, value in reply.headers.items():
        headers[key] = value
    phrase = http.HTTPStatus(reply.status).phrase
    return Response(reply.status, phrase, headers, reply.body)


Awaiter = Callable[[], Awaitable[Any]]
