"""Who is calling, at the edge: the credential a request presents and the principal it acts as.

AUTH_MODE (docs/security.md): ``none`` and ``token`` act as the one local principal (``token``
after the AUTH_TOKEN check in :mod:`.edge`); ``keys`` resolves an API key or a login token, from
``Authorization: Bearer``, ``x-api-key`` or the browser's session cookie, never from the URL.
Also here: the request id (reused from ``x-request-id`` when sane, generated otherwise).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection
from starlette.types import Scope

from ..identity.principal import ANONYMOUS, Principal
from .http import bearer

if TYPE_CHECKING:
    from .app import App

COOKIE = "agentchat_session"
PRINCIPAL_KEY = "agentchat.principal"
REQUEST_ID_KEY = "agentchat.request_id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
#: paths a keys-mode caller may reach without credentials (the endpoint decides)
OPEN_PATHS = frozenset({"/v1/auth/login", "/v1/auth/logout", "/v1/auth/me"})
BOOTSTRAP_PATH = "/v1/api-keys"


def request_id(headers: Mapping[str, str]) -> str:
    presented = headers.get("x-request-id", "")
    return presented if _REQUEST_ID.match(presented) else secrets.token_hex(8)


def cookie_value(headers: Mapping[str, str], name: str = COOKIE) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


def presented_credential(headers: Mapping[str, str]) -> str | None:
    """The credential a request carries in its headers (never its URL): Bearer, x-api-key, cookie."""
    return bearer(headers) or headers.get("x-api-key") or cookie_value(headers)


def principal(conn: HTTPConnection | Scope) -> Principal:
    """The caller of a request or socket (the local principal when auth is off)."""
    scope = conn.scope if isinstance(conn, HTTPConnection) else conn
    value = scope.get(PRINCIPAL_KEY)
    return value if isinstance(value, Principal) else ANONYMOUS


def authenticated(conn: HTTPConnection | Scope) -> bool:
    scope = conn.scope if isinstance(conn, HTTPConnection) else conn
    return isinstance(scope.get(PRINCIPAL_KEY), Principal)


def request_id_of(conn: HTTPConnection | Scope) -> str:
    scope = conn.scope if isinstance(conn, HTTPConnection) else conn
    return str(scope.get(REQUEST_ID_KEY, ""))


def keys_mode(core: App) -> bool:
    return core.settings.effective_auth_mode == "keys"
