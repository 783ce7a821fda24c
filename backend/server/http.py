"""Small helpers shared by every HTTP face: tokens, JSON errors, reading a JSON body.

Every face (``server/*.py`` module with a ``routes`` list) answers errors through
:func:`error_response` so clients see one shape, ``{"error": message, "code": code}``, and reads
JSON bodies through :func:`read_json` (415 unless ``Content-Type: application/json``, 400 unless the
body is a JSON object). The edge middleware (``server/edge.py``) has already applied the host,
origin, CSRF, token and body-size checks before an endpoint runs.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs

from pydantic import BaseModel, ValidationError
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from .app import App

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
#: JSON nested deeper than this is refused before ``json.loads`` can hit the recursion limit.
MAX_JSON_DEPTH = 64


class HttpError(Exception):
    """An expected HTTP failure; the app's exception handler turns it into :func:`error_response`."""

    def __init__(
        self, status: int, message: str, code: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _default_code(status)
        self.headers = dict(headers or {})


def _default_code(status: int) -> str:
    return {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "too_large",
        415: "unsupported_media_type",
        421: "misdirected_request",
        429: "too_many_requests",
        503: "unavailable",
    }.get(status, "error")


def error_response(
    status: int, message: str, code: str | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message, "code": code or _default_code(status)}, status, headers=dict(headers or {}))


#: paths whose clients are OpenAI SDKs: errors there use OpenAI's shape, edge refusals included
OPENAI_PATHS = frozenset({"/v1/chat/completions", "/api/chat/completions", "/v1/models"})


def openai_error_response(
    status: int, message: str, code: str | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "api_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code or _default_code(status)}}
    return JSONResponse(body, status, headers=dict(headers or {}))


def core(conn: HTTPConnection) -> App:
    """The server's :class:`App` (sessions, store views, settings) from a request or socket."""
    return cast("App", conn.app.state.core)


def query_token(query_string: str) -> str | None:
    values = parse_qs(query_string).get("token")
    return values[0] if values else None


def token_matches(expected: str | None, presented: str | None) -> bool:
    if not expected:
        return True
    return presented is not None and hmac.compare_digest(expected.encode(), presented.encode())


def bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization") or ""
    return value[7:].strip() if value.lower().startswith("bearer ") else None


def is_json_content_type(value: str | None) -> bool:
    return (value or "").split(";", 1)[0].strip().lower() == "application/json"


def json_depth_ok(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when brackets nest at most ``limit`` deep (strings are skipped); cheap, no parsing."""
    data = text.encode() if isinstance(text, str) else text
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return False
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return True


def validated(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """``data`` as ``model`` (the protocol's request models); the first problem as a 400."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise HttpError(400, f"{where}: {first['msg']}", "bad_request") from None


async def read_json(request: Request) -> dict[str, Any]:
    """The request's body as a JSON object: 415 without ``application/json``, 400 if not an object."""
    if not is_json_content_type(request.headers.get("content-type")):
        raise HttpError(415, "send the body as JSON with Content-Type: application/json")
    body = await request.body()
    if not json_depth_ok(body):
        raise HttpError(400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels", "bad_json")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HttpError(400, f"body is not valid JSON: {exc}", "bad_json") from exc
    if not isinstance(data, dict):
        raise HttpError(400, "the JSON body must be an object", "bad_request")
    return data
