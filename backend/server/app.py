"""The server: one port for every face (WebSocket protocol, HTTP routes, the browser client).

A Starlette app served by uvicorn (``ws="websockets-sansio"``). The routes are declared in one list
(``server/routes.py``), behind one edge middleware (``server/edge.py``: Host, Origin, CSRF, token,
body size, connection cap). :class:`App` holds what the faces need (sessions, settings, views of
the store through the sessions layer) and is reached from an endpoint with ``http.core(request)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import Scope

from .. import __version__
from ..errors import (
    AgentChatError,
    BusyError,
    SandboxUnavailableError,
    SessionElsewhereError,
    SessionNotFoundError,
)
from ..identity.throttle import LoginThrottle
from ..protocol import PROTOCOL_VERSION, encode, event
from ..sessions.hub import EventHub
from ..sessions.metrics import SessionMetrics, Snapshot
from ..sessions.registry import SessionRegistry
from ..sessions.sandboxes import SessionSandboxes
from ..sessions.session import Session
from ..settings import Endpoint, Settings
from ..store import Store
from ..team.builder import TeamFactory
from ..tools.registry import ToolRegistry
from ..tools.terminal import terminal_health
from .acceptlog import AcceptErrorLog
from .connection import Connection
from .edge import Edge, startup_warnings
from .event_stream import StreamSubscriber
from .export_api import PATH_REGEX as IMPORT_PATH_REGEX
from .files_api import PATH_REGEX as UPLOAD_PATH_REGEX
from .files_api import body_limit as upload_body_limit
from .http import HttpError, error_response
from .mcp_api import McpFace
from .protocols import h11_with_head_deadline
from .routes import all_routes
from .system import SystemProbe

logger = logging.getLogger(__name__)

HEALTH_CACHE_SECONDS = 5.0
GRACEFUL_SHUTDOWN_SECONDS = 5


@dataclass
class EdgeCounters:
    """What the edge refused and holds open (``/healthz`` → ``connections``)."""

    open_sockets: int = 0
    refused_hosts: int = 0
    refused_connections: int = 0
    #: frames whose handler raised something unexpected (answered with ``internal_error``)
    internal_errors: int = 0


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
        metrics: SessionMetrics | None = None,
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
        #: Prometheus metrics (``GET /metrics``), this server's own registry; fed by the hub's observer
        self.metrics = metrics if metrics is not None else SessionMetrics(model=endpoint.model)
        self.started = time.time()
        self.connections: set[Connection] = set()
        self.streams: set[StreamSubscriber] = set()
        self.shutting_down = anyio.Event()
        self.counters = EdgeCounters()
        self.larger_bodies: list[tuple[re.Pattern[str], int]] = []
        self.allow_larger_bodies(UPLOAD_PATH_REGEX, upload_body_limit(settings))
        self.allow_larger_bodies(IMPORT_PATH_REGEX, settings.import_max_bytes)
        limit, window = settings.auth_fail_limit, settings.auth_fail_window
        self.auth_throttle = LoginThrottle(
            free=limit, lock_after=limit, window=window, lock_seconds=window, max_keys=10_000
        )
        self.accept_errors = AcceptErrorLog()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._health_cache: tuple[float, bool] | None = None
        self.system = SystemProbe()
        #: sessions' sandboxes for clients (HTTP and the WebSocket's sandbox_* frames)
        self.sandboxes = SessionSandboxes(sessions)
        self.mcp_face = McpFace(self)
        self.asgi = self.build_asgi()
        self.server: uvicorn.Server | None = None
        self._main_loop: asyncio.Task[None] | None = None

    def build_asgi(self) -> Starlette:
        asgi = Starlette(
            routes=all_routes(),
            middleware=[Middleware(Edge, core=self)],
            exception_handlers={
                HttpError: _http_error,
                HTTPException: _starlette_error,
                AgentChatError: _agentchat_error,
            },
            lifespan=self._lifespan,
        )
        asgi.state.core = self
        return asgi

    @contextlib.asynccontextmanager
    async def _lifespan(self, _asgi: Starlette) -> AsyncIterator[None]:
        await self.mcp_face.start()
        try:
            yield
        finally:
            await self.mcp_face.stop()
        for task in list(self._tasks):
            task.cancel()

    # --- background tasks -------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- server -------------------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        for warning in startup_warnings(s):
            logger.warning("%s", warning)
        self.accept_errors.install(asyncio.get_running_loop())
        config = uvicorn.Config(
            self.asgi,
            host=s.host,
            port=s.port,
            http=h11_with_head_deadline(s.handshake_timeout),
            ws="websockets-sansio",
            lifespan="on",
            log_config=None,
            access_log=False,
            server_header=False,
            headers=[("server", f"agentchat/{__version__}")],
            ws_max_size=s.max_message_bytes,
            ws_max_queue=32,
            ws_ping_interval=s.ping_interval,
            ws_ping_timeout=s.ping_timeout,
            ws_per_message_deflate=False,
            proxy_headers=bool(s.forwarded_allow_ips),
            forwarded_allow_ips=list(s.forwarded_allow_ips) or None,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
        server = uvicorn.Server(config)
        config.load()
        server.lifespan = config.lifespan_class(config)
        try:
            await server.startup()
        except SystemExit as exc:  # uvicorn exits when it cannot bind
            self.accept_errors.uninstall()
            raise AgentChatError(f"cannot listen on {s.host}:{s.port} (see the log above)") from exc
        self.server = server
        self._main_loop = asyncio.get_running_loop().create_task(server.main_loop())

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.shutting_down.set()
        for stream in list(self.streams):
            stream.end()
        server = self.server
        if server is not None:
            server.should_exit = True
            if self._main_loop is not None:
                await self._main_loop
            await server.shutdown()
            self.server = None
        for task in list(self._tasks):
            task.cancel()
        self.accept_errors.uninstall()

    def allow_larger_bodies(self, path_regex: str, limit: int) -> None:
        """Let requests whose path matches ``path_regex`` carry bodies up to ``limit`` bytes
        instead of MAX_BODY_BYTES (file uploads); checked by the edge like the default limit."""
        self.larger_bodies.append((re.compile(path_regex), limit))

    def client_address(self, conn: HTTPConnection | Scope) -> str:
        """The client's address: the socket's peer, or a trusted proxy's X-Forwarded-For."""
        scope = conn.scope if isinstance(conn, HTTPConnection) else conn
        client = scope.get("client")
        return str(client[0]) if client else "unknown"

    # --- data for the HTTP routes and the protocol -------------------------------------------------
    async def health(self) -> dict[str, Any]:
        reachable = await self.model_reachable()
        sandbox = self.sandboxes.health()
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
                **await self.session_counts(),
                "connections": len(self.connections),
                "sandbox_removal_errors": self.sessions.sandbox_removal_errors,
                "compaction_errors": self.sessions.services.counters.compaction_errors,
                "upload_copy_errors": self.sessions.services.counters.upload_copy_errors,
                "upload_removal_errors": self.sessions.services.counters.upload_removal_errors,
                "turn_starts": self.sessions.services.turn_gate.snapshot(),
            },
            "connections": {
                "websockets": self.counters.open_sockets,
                "max": self.settings.max_connections,
                "refused": self.counters.refused_connections,
                "refused_hosts": self.counters.refused_hosts,
                "auth_failures_tracked": self.auth_throttle.tracked,
                "auth_refused": self.auth_throttle.refused,
                "accept_errors": self.accept_errors.count,
                "internal_errors": self.counters.internal_errors,
            },
            "sandbox": sandbox,
            "terminal": await terminal_health(self.settings),
            "events": {
                "written": self.hub.events_written,
                "batches": self.hub.batches_written,
                "failed_batches": self.hub.batches_failed,
                "unstored": self.hub.events_unstored,
                "fenced": self.hub.events_fenced,
            },
            "store": {"engine": self.store.db.dialect.name, "checkpoint_errors": self.store.db.checkpoint_errors},
            "instance": self.sessions.services.cluster.instance_id,
            "cluster": self.sessions.services.cluster.health(),
        }
        workflows = self.sessions.services.workflows
        if workflows is not None:
            data["workflows"] = workflows.health()
        if self.loop_lag is not None:
            data["loop_lag"] = self.loop_lag.snapshot()
        if self.embedded is not None:
            data["embedded"] = self.embedded.health()
        return data

    async def session_counts(self) -> dict[str, int]:
        """Sessions loaded in this process (``active``), running a turn, and in the store."""
        return {
            "active": self.sessions.live_count,
            "running": self.sessions.running_count(),
            "stored": await self.sessions.stored_count(),
        }

    async def metrics_text(self) -> bytes:
        """``GET /metrics``: the counters the hub's events fed, with this moment's readings."""
        sandbox = self.sandboxes.health()
        snapshot = Snapshot(
            sessions_live=self.sessions.live_count,
            sessions_running=self.sessions.running_count(),
            sessions_stored=await self.sessions.stored_count(),
            sandbox_available=bool(sandbox.get("available")),
            sandboxes_running=int(sandbox.get("containers", 0) or 0),
            loop_lag=self.loop_lag.snapshot() if self.loop_lag is not None else {},
        )
        return self.metrics.render(snapshot)

    async def system_status(self) -> dict[str, Any]:
        """``/v1/system/status``: the machine and this process (cached readings), sessions, live
        teams and sandboxes; the sandbox platform's status route."""
        sandbox = self.sandboxes.health()
        running = int(sandbox.get("containers", 0))
        limit = int(sandbox.get("max_containers", self.settings.sandbox_max_containers))
        return {
            "status": "ok",
            "version": __version__,
            "uptime_s": round(time.time() - self.started, 1),
            "instance": self.sessions.services.cluster.instance_id,
            **self.system.snapshot(),
            "sessions": {**await self.session_counts(), "teams": self.sessions.teams_count()},
            "connections": {"websockets": self.counters.open_sockets, "event_streams": len(self.streams)},
            "sandboxes": {
                "available": bool(sandbox["available"]),
                "reason": sandbox.get("reason"),
                "running": running,
                "limit": limit,
                "free": max(limit - running, 0) if sandbox["available"] else 0,
            },
        }

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

    async def session_state(self, session: Session) -> dict[str, Any]:
        """What a client needs to know about a session: the ``session`` frame's fields."""
        pending = await session.questions.pending()
        return {
            "title": session.title,
            "running": session.running,
            "queued": session.queued,
            "last_seq": session.channel.last_seq,
            "pending_questions": [q.to_event() for q in pending],
            "pending_approvals": [a.to_event() for a in await session.approvals.pending()],
            "approval_grants": await session.approvals.grants(),
        }

    async def timeline(self, session: Session, after_seq: int, limit: int | None = None) -> list[str]:
        """Stored event frames of ``session`` above ``after_seq`` (everything emitted so far included)."""
        replay = await self.hub.replay(session.channel, after_seq, limit=limit)
        replay.detach()
        return replay.frames

    async def delete_session(self, session_id: str, requester: Connection | None = None) -> None:
        """Delete a session; every socket watching it (and the requester) gets ``deleted``,
        every event stream of it ends."""
        session = await self.sessions.get(session_id)
        watchers = list(session.channel.subscribers)
        await self.sessions.delete(session_id)
        body = encode(event("deleted", session_id))
        for watcher in {*watchers, *([requester] if requester is not None else [])}:
            if isinstance(watcher, StreamSubscriber):
                watcher.end()
                continue
            watcher.deliver(body)
            if isinstance(watcher, Connection):
                watcher.watching.pop(session_id, None)
                if watcher.current == session_id:
                    watcher.current = None

    async def describe_tools(self) -> list[dict[str, Any]]:
        """The built-in tools and the MCP servers' (``<server>__<tool>``), with the agents holding them."""
        holders = self.factory.agents_holding()
        builtin = [{**spec.describe(), "agents": holders.get(spec.name, [])} for spec in self.tools.specs()]
        mcp_agents = self.factory.mcp_agents()
        mcp = [{**tool, "agents": mcp_agents} for tool in await self.sessions.services.mcp.describe()]
        return builtin + mcp

    async def todos_snapshot(self, session_id: str, status: str = "all") -> list[dict[str, Any]]:
        rows = await self.store.todos.list(session_id, None if status == "all" else status)
        return [row.to_dict() for row in rows]

    async def reminders_snapshot(self, session_id: str) -> list[dict[str, Any]]:
        return [row.to_dict() for row in await self.store.reminders.list(session_id)]

    async def run_client_tool(self, session: Session, name: str, request: Any, conn: Connection) -> None:
        """A protocol message that does what a tool does, without the model (todos, reminders)."""
        spec = self.tools.get(name)
        args = {k: v for k, v in request.model_dump().items() if k in spec.args_model.model_fields}
        try:
            result = await spec.func(session.deps, **spec.args_model.model_validate(args).model_dump())
        except AgentChatError:
            raise
        await self.hub.flush()  # the todos/reminders event it caused goes out first
        conn.reply({"type": "tool_done", "session_id": session.id, "seq": None, "name": name, "result": result})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HttpError)
    return error_response(exc.status, exc.message, exc.code, exc.headers)


async def _starlette_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.detail, headers=exc.headers)


async def _agentchat_error(request: Request, exc: Exception) -> Response:
    """Expected failures of the session layer, with the WebSocket protocol's error codes."""
    assert isinstance(exc, AgentChatError)
    if isinstance(exc, SessionNotFoundError):
        status = 404
    elif isinstance(exc, BusyError):
        status = 429
    elif isinstance(exc, SandboxUnavailableError):
        status = 503
    elif isinstance(exc, SessionElsewhereError):
        status = 409
    else:
        status = CODE_STATUS.get(exc.code, 400)
    return error_response(status, exc.message, exc.code)


#: session-layer error codes whose HTTP status is not 400
CODE_STATUS = {"unknown_approval": 404, "unknown_grant": 404, "approval_closed": 409}
