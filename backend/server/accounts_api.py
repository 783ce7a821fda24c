"""Face: API keys, sign-in and the audit log (docs/http-api.md, "Keys, sign-in and audit").

``POST/GET /v1/api-keys``, ``PATCH /v1/api-keys/{id}``: keys of the caller's tenant, for its admins
(the first key may be created without credentials from loopback while no key exists: the
bootstrap). ``POST /v1/auth/login`` / ``logout``, ``GET /v1/auth/me``; ``GET /v1/audit``.
The edge (``server/edge.py``) has resolved the caller in AUTH_MODE=keys.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import AgentChatError, AuthError
from ..identity.principal import DEFAULT_TENANT, Principal, is_loopback_host
from ..sessions.accounts import Accounts, LoginThrottledError
from .auth import COOKIE, authenticated, cookie_value, keys_mode, presented_credential, principal
from .http import HttpError, core, error_response, read_json

MAX_AUDIT_ROWS = 1000


def _accounts(request: Request) -> Accounts:
    app = core(request)
    if not keys_mode(app):
        raise HttpError(404, "keys, users and the audit log need AUTH_MODE=keys", "not_found")
    return app.sessions.services.accounts


def _admin(request: Request) -> Principal:
    if not authenticated(request):
        raise HttpError(401, "missing credentials: send Authorization: Bearer <key> or x-api-key", "unauthorized")
    caller = principal(request)
    if not caller.admin:
        raise HttpError(403, "this needs the 'admin' scope", "forbidden")
    return caller


def _text(body: dict[str, Any], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise HttpError(400, f"{name} must be a string", "bad_request")
    return value


async def create_key(request: Request) -> Response:
    accounts = _accounts(request)
    body = await read_json(request) if request.headers.get("content-length", "") not in ("", "0") else {}
    name = _text(body, "name", "key")
    admin = body.get("admin", False)
    expires_at = body.get("expires_at")
    if not isinstance(admin, bool) or not (expires_at is None or isinstance(expires_at, int | float)):
        raise HttpError(400, "admin must be a boolean, expires_at a number (epoch seconds)", "bad_request")
    if not authenticated(request):
        # bootstrap: only from this machine (the real client address), only while no key exists
        app = core(request)
        if not is_loopback_host(app.client_address(request)) or await accounts.any_key():
            raise HttpError(401, "missing credentials: send Authorization: Bearer <key> or x-api-key", "unauthorized")
        created = await accounts.create_key(name, tenant=DEFAULT_TENANT, admin=True, bootstrap=True)
        if created is None:
            raise HttpError(401, "missing credentials: a key exists already", "unauthorized")
    else:
        caller = _admin(request)
        tenant = _text(body, "tenant", caller.tenant)
        if tenant != caller.tenant:
            raise HttpError(403, "keys can only be created in the caller's own tenant", "forbidden")
        created = await accounts.create_key(name, tenant=tenant, admin=admin, expires_at=expires_at)
        assert created is not None
    raw, row = created
    return JSONResponse({**row.to_dict(), "key": raw}, 201)


async def list_keys(request: Request) -> Response:
    accounts = _accounts(request)
    caller = _admin(request)
    return JSONResponse({"keys": [row.to_dict() for row in await accounts.list_keys(caller.tenant)]})


async def update_key(request: Request) -> Response:
    accounts = _accounts(request)
    caller = _admin(request)
    status = _text(await read_json(request), "status")
    try:
        row = await accounts.set_key_status(request.path_params["key_id"], status, tenant=caller.tenant)
    except AgentChatError as exc:
        code = {"unknown_key": 404, "conflict": 409}.get(exc.code, 400)
        raise HttpError(code, exc.message, exc.code) from None
    return JSONResponse(row.to_dict())


async def login(request: Request) -> Response:
    accounts = _accounts(request)
    body = await read_json(request)
    if "key" in body:
        return await _key_login(request, accounts, _text(body, "key"))
    username, password = _text(body, "username"), _text(body, "password")
    try:
        token, claims, user = await accounts.login(username, password, core(request).client_address(request))
    except LoginThrottledError as exc:
        return error_response(
            429, exc.message, "too_many_requests", {"Retry-After": str(max(1, round(exc.retry_after)))}
        )
    except AuthError as exc:
        raise HttpError(401, exc.message, "unauthorized") from None
    ttl = max(1, int(claims.expires_at - time.time()))
    response = JSONResponse({"token": token, "token_type": "bearer", "expires_at": claims.expires_at,
                             "user": user.to_dict()})  # fmt: skip
    secure = request.url.scheme == "https"
    response.set_cookie(COOKIE, token, max_age=ttl, httponly=True, samesite="strict", secure=secure, path="/")
    return response


async def _key_login(request: Request, accounts: Accounts, key: str) -> Response:
    """The browser's "paste an API key": the key is checked and kept in the HttpOnly session cookie
    (never in page storage); throttled like passwords, per address."""
    address = core(request).client_address(request)
    try:
        caller = await accounts.login_with_key(key, address)
    except LoginThrottledError as exc:
        retry = {"Retry-After": str(max(1, round(exc.retry_after)))}
        return error_response(429, exc.message, "too_many_requests", retry)
    except AuthError as exc:
        raise HttpError(401, exc.message, "unauthorized") from None
    response = JSONResponse({"token_type": "api_key", "tenant": caller.tenant, "key_id": caller.key_id,
                             "name": caller.name})  # fmt: skip
    secure = request.url.scheme == "https"
    max_age = core(request).settings.auth_session_seconds
    response.set_cookie(COOKIE, key, max_age=max_age, httponly=True, samesite="strict", secure=secure, path="/")
    return response


async def logout(request: Request) -> Response:
    accounts = _accounts(request)
    token = presented_credential(request.headers) or cookie_value(request.headers)
    if token is not None and not token.startswith("ac_"):
        # an expired or foreign token: nothing to revoke, the cookie is cleared anyway
        with contextlib.suppress(AuthError):
            await accounts.logout(token)
    response = JSONResponse({"ok": True})
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def me(request: Request) -> Response:
    app = core(request)
    if keys_mode(app) and not authenticated(request):
        raise HttpError(401, "not signed in", "not_signed_in")
    caller = principal(request)
    return JSONResponse({"auth_mode": app.settings.effective_auth_mode, "tenant": caller.tenant,
                         "user_id": caller.user_id, "name": caller.name, "key_id": caller.key_id,
                         "scopes": sorted(caller.scopes)})  # fmt: skip


async def audit(request: Request) -> Response:
    accounts = _accounts(request)
    caller = _admin(request)
    q = request.query_params
    try:
        limit = min(int(q.get("limit", "100")), MAX_AUDIT_ROWS)
        since = float(q["since"]) if q.get("since") else None
    except ValueError:
        raise HttpError(400, "limit must be an integer, since a number (epoch seconds)", "bad_request") from None
    rows = await accounts.audit_rows(tenant=caller.tenant, session_id=q.get("session_id") or None,
                                     actor=q.get("user") or None, action=q.get("action") or None, since=since,
                                     limit=max(limit, 1),
                                     with_anonymous=caller.tenant == DEFAULT_TENANT)  # fmt: skip
    return JSONResponse({"rows": [row.to_dict() for row in rows]})


routes: list[BaseRoute] = [
    Route("/v1/api-keys", create_key, methods=["POST"]),
    Route("/v1/api-keys", list_keys, methods=["GET"]),
    Route("/v1/api-keys/{key_id}", update_key, methods=["PATCH"]),
    Route("/v1/auth/login", login, methods=["POST"]),
    Route("/v1/auth/logout", logout, methods=["POST"]),
    Route("/v1/auth/me", me, methods=["GET"]),
    Route("/v1/audit", audit, methods=["GET"]),
]
