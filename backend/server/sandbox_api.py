"""Face: the session's sandbox and the system status over HTTP (docs/http-api.md, "The session's sandbox").

The sandbox platform's container API on our sessions: one container per session, the same one the
model's sandbox tools use, through ``App.sandboxes`` (``sessions/sandboxes.py``, also behind the
WebSocket's ``sandbox_*`` frames). Paths:

=========================================  ===============================================
``/v1/sessions/{id}/sandbox``              GET status
``/v1/sessions/{id}/sandbox/{view}``       GET ``stats``, ``logs?tail=N``
``/v1/sessions/{id}/sandbox/{action}``     POST ``exec`` ``{"command", "timeout"?}``, ``reset``
``/api/container/{id}/{view|action}``      the sandbox platform's aliases of the five above
``/v1/sandbox/{id}/{view}``                the earlier GET-only alias (status, stats, logs)
``/v1/system/status``                      GET (alias ``/api/system/status``)
=========================================  ===============================================

Errors: an unknown session (or a malformed id) 404; the sandbox disabled or unusable 503 with the
reason; in a cluster, a session that another live process runs 409 (its container is there); a bad
body 400/415; a command over :data:`MAX_COMMAND_BYTES` 413. A command that runs past its timeout
is killed and reported in the result (``timed_out: true``), not as an error.
"""

from __future__ import annotations

import math
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .. import protocol as p
from .auth import principal
from .http import HttpError, core, read_json

_SESSION_ID = re.compile(p.SESSION_ID_PATTERN)
#: Largest command (a string, or the argv's strings together) in UTF-8 bytes.
MAX_COMMAND_BYTES = 64 * 1024
#: Most argv entries of a list command.
MAX_ARGV = 1024
#: Most log lines one request can ask for (as the WebSocket's ``sandbox_logs``).
MAX_TAIL = 10_000
DEFAULT_TAIL = 200


async def _session_id(request: Request) -> str:
    """The path's session, loaded like the WebSocket's sandbox frames load it; 404 when unknown."""
    session_id = request.path_params["session_id"]
    if not _SESSION_ID.match(session_id):
        raise HttpError(404, "unknown session", "unknown_session")
    session = await core(request).sessions.get(session_id, principal(request))  # not visible: 404 as unknown
    session.touch()
    return session.id


def _tail(request: Request) -> int:
    value = request.query_params.get("tail")
    if value is None or value == "":
        return DEFAULT_TAIL
    if not value.isdigit() or len(value) > 6 or not 1 <= int(value) <= MAX_TAIL:
        raise HttpError(400, f"tail must be an integer from 1 to {MAX_TAIL}", "bad_request")
    return int(value)


def _command(data: dict[str, Any]) -> str | list[str]:
    """``command``: a non-empty string (run by ``/bin/sh -c``) or a non-empty list of strings (argv)."""
    command = data.get("command")
    if isinstance(command, str):
        parts = [command]
    elif isinstance(command, list) and all(isinstance(part, str) for part in command):
        if len(command) > MAX_ARGV:
            raise HttpError(413, f"command has more than {MAX_ARGV} arguments", "command_too_large")
        parts = command
    else:
        raise HttpError(400, "command must be a string or a list of strings", "bad_request")
    if not parts or not parts[0].strip():
        raise HttpError(400, "command is empty", "bad_request")
    if sum(len(part.encode("utf-8", "surrogatepass")) for part in parts) > MAX_COMMAND_BYTES:
        raise HttpError(413, f"command over {MAX_COMMAND_BYTES} bytes", "command_too_large")
    if any("\x00" in part for part in parts):
        raise HttpError(400, "command contains a NUL character", "bad_request")
    return command


def _timeout(data: dict[str, Any], limit: float) -> float | None:
    """``timeout``: seconds, above 0 and at most SANDBOX_TIMEOUT; absent or null: SANDBOX_TIMEOUT."""
    value = data.get("timeout")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise HttpError(400, "timeout must be a number of seconds", "bad_request")
    if not 0 < value <= limit:
        raise HttpError(400, f"timeout must be above 0 and at most {limit:g} seconds (SANDBOX_TIMEOUT)", "bad_request")
    return float(value)


async def status(request: Request) -> Response:
    session_id = await _session_id(request)
    return JSONResponse({"session_id": session_id, **await core(request).sandboxes.action(session_id, "status")})


async def view(request: Request) -> Response:
    """GET ``status``, ``stats`` or ``logs`` (``?tail=N`` lines, default 200)."""
    name = request.path_params["view"]
    if name not in ("status", "stats", "logs"):
        raise HttpError(404, "no such endpoint")
    tail = _tail(request) if name == "logs" else DEFAULT_TAIL
    session_id = await _session_id(request)
    result = await core(request).sandboxes.action(session_id, name, tail=tail)
    return JSONResponse({"session_id": session_id, **result})


async def action(request: Request) -> Response:
    """POST ``exec`` ``{"command": str | [str], "timeout"?: seconds}`` or ``reset``."""
    name = request.path_params["action"]
    if name not in ("exec", "reset"):
        raise HttpError(404, "no such endpoint")
    app = core(request)
    if name == "reset":
        session_id = await _session_id(request)
        return JSONResponse({"session_id": session_id, **await app.sandboxes.action(session_id, "reset")})
    data = await read_json(request)
    command = _command(data)
    timeout = _timeout(data, app.settings.sandbox_timeout)
    session_id = await _session_id(request)
    return JSONResponse({"session_id": session_id, **await app.sandboxes.exec(session_id, command, timeout)})


async def system_status(request: Request) -> Response:
    return JSONResponse(await core(request).system_status())


routes: list[BaseRoute] = [
    Route("/v1/system/status", system_status, methods=["GET"]),
    Route("/api/system/status", system_status, methods=["GET"]),
    Route("/v1/sessions/{session_id}/sandbox", status, methods=["GET"]),
    Route("/v1/sessions/{session_id}/sandbox/{view}", view, methods=["GET"]),
    Route("/v1/sessions/{session_id}/sandbox/{action}", action, methods=["POST"]),
    Route("/api/container/{session_id}/{view}", view, methods=["GET"]),
    Route("/api/container/{session_id}/{action}", action, methods=["POST"]),
    Route("/v1/sandbox/{session_id}/{view}", view, methods=["GET"]),
]
