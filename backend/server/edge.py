"""The network edge, as one ASGI middleware in front of every face (HTTP and WebSocket alike).

Checks, in order, before any endpoint runs (docs/security.md, "The network edge"):

1. ``Host`` must be on ALLOWED_HOSTS (DNS rebinding): else 421. No exemptions, ``/healthz``
   included: a load balancer's health check sends an allowed Host.
2. ``Origin``: at most one (else 400); when present it must name an allowed host (or be listed in
   ALLOWED_ORIGINS); it is never compared with the request's own Host. Else 403.
3. CSRF, for state-changing HTTP methods (POST/PUT/PATCH/DELETE): ``Sec-Fetch-Site: cross-site``
   or ``same-site`` without an allowed Origin is refused (403), and a body must be
   ``application/json`` or ``multipart/form-data``: the content types a page on another site can send
   without a CORS preflight (``text/plain``, form-encoded, none) are refused (415).
4. The token (AUTH_TOKEN) on ``/v1/`` and ``/api/`` (the earlier services' aliases) HTTP routes
   (``Authorization: Bearer`` or ``?token=``) and a WebSocket ``?token=``: wrong is 401, too many
   failures from one address is 429 (both faces share the per-address throttle with the ``auth``
   frame).
5. WebSockets beyond MAX_CONNECTIONS: 503.
6. Request bodies over MAX_BODY_BYTES: 413 (``Content-Length`` up front, or while reading a
   chunked body). A face that takes bigger bodies (file uploads) registers its path and limit with
   ``App.allow_larger_bodies(path_regex, limit)`` when it is built.

Client addresses are the socket's peer, or with FORWARDED_ALLOW_IPS the ``X-Forwarded-For`` set
by a trusted proxy (uvicorn's proxy-headers middleware runs before this one).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import AuthError, ForbiddenError
from ..logs import REQUEST_ID
from ..settings import WILDCARD_HOSTS, Settings
from ..store import AuditRow
from .auth import (
    BOOTSTRAP_PATH,
    OPEN_PATHS,
    PRINCIPAL_KEY,
    REQUEST_ID_KEY,
    presented_credential,
    principal,
    request_id,
)
from .caller_limits import TURN_ROUTES, CallerRates
from .http import OPENAI_PATHS, HttpError, bearer, error_response, openai_error_response, query_token, token_matches

if TYPE_CHECKING:
    from .app import App

logger = logging.getLogger(__name__)

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BODY_TYPES = ("application/json", "multipart/form-data")
FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})
#: HTTP paths that need AUTH_TOKEN (when set): the API, and the sandbox platform's ``/api/`` aliases
TOKEN_PREFIXES = ("/v1/", "/api/")


def host_name(netloc: str) -> str:
    """``Host``/origin netloc → lower-case host without port; IPv6 in brackets (``[::1]``)."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        end = netloc.find("]")
        return netloc[: end + 1] if end > 0 else netloc
    if netloc.count(":") > 1:  # a bare IPv6 address
        return f"[{netloc}]"
    return netloc.rsplit(":", 1)[0] if ":" in netloc else netloc


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Exact names, ``*`` (anything: only behind a proxy that checks Host), ``.example.com``
    (the domain and its subdomains)."""
    if not host:
        return False
    for entry in allowed:
        if entry in ("*", host):
            return True
        if entry.startswith(".") and (host == entry[1:] or host.endswith(entry)):
            return True
    return False


def startup_warnings(settings: Settings) -> list[str]:
    """What an operator should hear at start-up about the edge's configuration."""
    warnings = []
    if settings.host.strip().lower() in WILDCARD_HOSTS and not settings.allowed_hosts:
        warnings.append(
            f"HOST={settings.host} listens on every interface but ALLOWED_HOSTS is unset: only "
            f"{', '.join(settings.effective_allowed_hosts)} are answered (others get 421). "
            "List the names clients use, e.g. ALLOWED_HOSTS=chat.example.com,192.168.1.5"
        )
    if "*" in settings.effective_allowed_hosts:
        warnings.append("ALLOWED_HOSTS=* answers any Host: DNS rebinding is not stopped here (only behind a proxy)")
    if (
        settings.host.strip().lower() not in ("127.0.0.1", "localhost", "::1")
        and settings.effective_auth_mode == "none"
    ):
        warnings.append(
            f"HOST={settings.host} without auth (AUTH_MODE=keys, or AUTH_TOKEN): anyone who can reach the port "
            "can use the team"
        )
    return warnings


#: the streaming agent's routes, /metrics and /mcp, which need AUTH_TOKEN too (the page's files, /healthz and /health
#: stay public)
API_PATHS = frozenset({"/chat", "/chat/stream", "/stats", "/reset-stats", "/metrics", "/mcp"})


#: on every HTTP response that does not set its own (the page's files set a CSP that allows the page)
DEFAULT_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000")


def with_security_headers(headers: list[tuple[bytes, bytes]], rid: str, *, https: bool) -> list[tuple[bytes, bytes]]:
    """The response's headers plus the request id and the security headers it lacks (HSTS over https)."""
    present = {name.lower() for name, _ in headers}
    extra = [(name, value) for name, value in DEFAULT_HEADERS if name not in present]
    if https and HSTS[0] not in present:
        extra.append(HSTS)
    return [*headers, *extra, (b"x-request-id", rid.encode())]


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def needs_token(path: str) -> bool:
    return path.startswith(TOKEN_PREFIXES) or path in API_PATHS


class Edge:
    """Pure ASGI middleware: no per-frame cost, one pass over the headers per request/handshake."""

    def __init__(self, app: ASGIApp, *, core: App) -> None:
        self.app = app
        self.core = core
        settings = core.settings
        self.allowed_hosts = settings.effective_allowed_hosts
        self.allowed_origins = frozenset(settings.allowed_origins)
        self.mode = settings.effective_auth_mode
        self.token = settings.auth_token if self.mode == "token" else None
        self.max_body = settings.max_body_bytes
        self.max_connections = settings.max_connections
        self.rates = CallerRates(settings.caller_requests_per_minute)

    def origin_allowed(self, origin: str) -> bool:
        if origin in self.allowed_origins or "*" in self.allowed_origins:
            return True
        if origin == "null":
            return False
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and host_allowed(host_name(parts.netloc), self.allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope[REQUEST_ID_KEY] = rid = request_id(_headers(scope))
        REQUEST_ID.set(rid)  # on every log line of this request (backend/logs.py)
        if kind == "http":
            send = self.stamped(scope, send, rid)
        try:
            headers = self.check(scope)
            if self.mode == "keys":
                await self.identify(scope, headers)
        except HttpError as exc:
            if scope["type"] == "http" and scope["path"] in OPENAI_PATHS:
                await openai_error_response(exc.status, exc.message, exc.code, exc.headers)(scope, receive, send)
            else:
                await error_response(exc.status, exc.message, exc.code, exc.headers)(scope, receive, send)
            return
        if kind == "websocket":
            counter = self.core.counters
            counter.open_sockets += 1
            try:
                await self.app(scope, receive, send)
            finally:
                counter.open_sockets -= 1
            return
        if scope["method"] in STATE_CHANGING:
            receive = self.limit_body(receive, self.body_limit(scope["path"]))
        await self.app(scope, receive, send)

    def stamped(self, scope: Scope, send: Send, rid: str) -> Send:
        """``send`` that echoes the request id on the response, and in keys mode writes the audit row
        before the response starts (so a client that got an answer finds its row)."""
        started = time.monotonic()
        audited = self.mode == "keys" and needs_token(scope["path"])

        https = scope.get("scheme") == "https"  # TLS here, or a trusted proxy's X-Forwarded-Proto

        async def stamped_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_security_headers(list(message.get("headers", [])), rid, https=https)
                if audited:
                    await self.audit(scope, int(message["status"]), started)
            await send(message)

        return stamped_send

    async def audit(self, scope: Scope, status: int, started: float) -> None:
        caller = principal(scope) if PRINCIPAL_KEY in scope else None
        path = scope["path"]
        params = scope.get("path_params") or {}
        await self.core.sessions.services.accounts.audit(
            AuditRow(ts=time.time(), request_id=str(scope[REQUEST_ID_KEY]),
                     tenant=caller.tenant if caller else None, actor=caller.user_id if caller else None,
                     key_id=caller.key_id if caller else None, address=self.core.client_address(scope),
                     action=f"{scope['method']} {path}"[:200], method=scope["method"], path=path[:500],
                     session_id=params.get("session_id") if isinstance(params.get("session_id"), str) else None,
                     status=status, latency_ms=round((time.monotonic() - started) * 1000, 3))
        )  # fmt: skip

    async def identify(self, scope: Scope, headers: dict[str, str]) -> None:
        """AUTH_MODE=keys: resolve the caller of an API request or a WebSocket (scope[PRINCIPAL_KEY])."""
        path = scope["path"]
        http = scope["type"] == "http"
        if http and not needs_token(path):
            return
        if query_token(scope["query_string"].decode("latin-1")) is not None:
            raise HttpError(401, "credentials in the URL are not accepted: send Authorization: Bearer or x-api-key")
        credential = presented_credential(headers)
        open_path = http and (path in OPEN_PATHS or (path == BOOTSTRAP_PATH and scope["method"] == "POST"))
        if credential is None:
            if not http or open_path:
                return  # a socket authenticates with its first frame; the endpoint decides
            raise HttpError(401, "missing credentials: send Authorization: Bearer <key> or x-api-key")
        address = self.core.client_address(scope)
        throttle = self.core.auth_throttle
        if throttle.blocked(address):
            raise HttpError(429, "too many failed authentications; try again later")
        try:
            caller = await self.core.sessions.services.accounts.authenticate(credential)
        except AuthError as exc:
            if path in OPEN_PATHS:
                return  # a stale cookie must not stop a sign-in
            throttle.failed(address)
            raise HttpError(401, exc.message, "unauthorized") from None
        try:
            caller.check_tenant_header(headers.get("x-tenant-id"))
        except ForbiddenError as exc:
            raise HttpError(403, exc.message, "forbidden") from None
        scope[PRINCIPAL_KEY] = caller
        if not self.rates.allow(caller):
            retry = {"Retry-After": str(self.rates.retry_after)}
            raise HttpError(429, "too many requests for this key or user (CALLER_REQUESTS_PER_MINUTE)", None, retry)
        if http and scope["method"] == "POST" and TURN_ROUTES.match(path):
            wait = await self.core.sessions.services.accounts.token_budget_wait(caller)
            if wait > 0:
                retry = {"Retry-After": str(round(wait))}
                raise HttpError(429, "this key or user has used its model tokens for today (CALLER_TOKENS_PER_DAY)",
                                "quota_exceeded", retry)  # fmt: skip

    def check(self, scope: Scope) -> dict[str, str]:
        hosts: list[str] = []
        origins: list[str] = []
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            if name == "host":
                hosts.append(value)
            elif name == "origin":
                origins.append(value)
            else:
                headers[name] = value
        if len(hosts) != 1:
            raise HttpError(400, "exactly one Host header is required", "bad_host")
        if not host_allowed(host_name(hosts[0]), self.allowed_hosts):
            self.core.counters.refused_hosts += 1
            logger.info("refused request for host %r (not in ALLOWED_HOSTS)", hosts[0][:100])
            raise HttpError(421, "this server does not answer for that host name (ALLOWED_HOSTS)", "bad_host")
        if len(origins) > 1:
            raise HttpError(400, "more than one Origin header", "bad_origin")
        origin = origins[0] if origins else None
        if origin is not None and not self.origin_allowed(origin):
            logger.info("refused %s from origin %r", scope["type"], origin[:100])
            raise HttpError(403, "origin not allowed", "bad_origin")
        address = self.core.client_address(scope)
        if scope["type"] == "http":
            self.check_csrf(scope["method"], headers, origin is not None)
            if needs_token(scope["path"]):
                presented = bearer(headers) or query_token(scope["query_string"].decode("latin-1"))
                self.check_token(address, presented, required=True)
            self.check_length(headers, self.body_limit(scope["path"]))
        else:
            presented = query_token(scope["query_string"].decode("latin-1"))
            self.check_token(address, presented or bearer(headers), required=False)
            if self.core.counters.open_sockets >= self.max_connections:
                self.core.counters.refused_connections += 1
                raise HttpError(503, f"too many connections (MAX_CONNECTIONS={self.max_connections})", "unavailable")
        return headers

    def check_csrf(self, method: str, headers: dict[str, str], has_allowed_origin: bool) -> None:
        if method not in STATE_CHANGING:
            return
        if headers.get("sec-fetch-site", "").lower() in FOREIGN_FETCH_SITES and not has_allowed_origin:
            raise HttpError(403, "cross-site request refused", "csrf")
        has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        if has_body:
            content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if content_type not in BODY_TYPES:
                raise HttpError(415, "send the body as application/json (or multipart/form-data for files)")

    def check_token(self, address: str, presented: str | None, *, required: bool) -> None:
        if not self.token or (presented is None and not required):
            return  # a socket without ?token= authenticates with its first frame
        throttle = self.core.auth_throttle
        if throttle.blocked(address):
            raise HttpError(429, "too many failed authentications; try again later")
        if not token_matches(self.token, presented):
            throttle.failed(address)
            raise HttpError(401, "missing or wrong token" if required else "wrong token", "unauthorized")

    def body_limit(self, path: str) -> int:
        """MAX_BODY_BYTES, or a larger limit a face registered for this path (``App.larger_bodies``)."""
        for pattern, limit in self.core.larger_bodies:
            if pattern.match(path):
                return limit
        return self.max_body

    def check_length(self, headers: dict[str, str], limit: int) -> None:
        length = headers.get("content-length")
        if length is None:
            return
        if not length.isdigit():
            raise HttpError(400, "bad Content-Length")
        if int(length) > limit:
            raise HttpError(413, f"request body over {limit} bytes")

    def limit_body(self, receive: Receive, limit: int) -> Receive:
        """Count a body as it arrives (chunked uploads have no Content-Length)."""
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HttpError(413, f"request body over {limit} bytes")
            return message

        return limited
