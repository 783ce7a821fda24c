"""Face: session export and import (docs/http-api.md, "Export and import"; docs/export-format.md).

``GET /v1/sessions/{id}/export?format=json|markdown`` answers the session as a versioned JSON
document or a Markdown transcript (as a download); ``POST /v1/sessions/import`` takes such a JSON
document and answers 201 with the NEW session it created. The work is ``sessions/transfer.py``'s;
this module reads the request and maps refusals to statuses: 400 (invalid JSON, not an object,
wrong format or version, a bad or oversized event or field), 404 unknown session, 413 over
IMPORT_MAX_BYTES (the edge lets the import route carry bodies up to that instead of
MAX_BODY_BYTES: ``App.allow_larger_bodies``), 415 not JSON.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .. import protocol as p
from ..errors import TransferError
from ..sessions import transfer
from ..sessions.session import Session
from .auth import principal
from .http import MAX_JSON_DEPTH, HttpError, core, is_json_content_type, json_depth_ok

#: the route the edge lets carry an import's body (up to IMPORT_MAX_BYTES)
PATH_REGEX = r"^/v1/sessions/import$"
FORMATS = {"json": "json", "markdown": "markdown", "md": "markdown"}
_SESSION_ID = re.compile(p.SESSION_ID_PATTERN)


async def _session(request: Request) -> Session:
    session_id = request.path_params["session_id"]
    if not _SESSION_ID.match(session_id):
        raise HttpError(404, "unknown session", "unknown_session")
    return await core(request).sessions.get(session_id, principal(request))  # not visible: 404 as unknown


def _attachment(session: Session, extension: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="agentchat-{session.id}.{extension}"',
        "Cache-Control": "no-store",
    }


async def export_session(request: Request) -> Response:
    wanted = request.query_params.get("format", "json")
    kind = FORMATS.get(wanted)
    if kind is None:
        raise HttpError(400, "format must be json or markdown", "bad_request")
    session = await _session(request)
    if kind == "markdown":
        text = await transfer.export_markdown(session)
        return Response(text, media_type="text/markdown; charset=utf-8", headers=_attachment(session, "md"))
    document = await transfer.export_document(session)
    body = await asyncio.to_thread(json.dumps, document, ensure_ascii=False, separators=(",", ":"))
    return Response(body, media_type="application/json", headers=_attachment(session, "json"))


def _decode(body: bytes) -> Any:
    if not json_depth_ok(body):
        raise HttpError(400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels", "bad_json")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HttpError(400, f"the file is not valid JSON: {exc}", "bad_json") from None


async def import_session(request: Request) -> Response:
    if not is_json_content_type(request.headers.get("content-type")):
        raise HttpError(415, "send the exported document as JSON with Content-Type: application/json")
    data = await asyncio.to_thread(_decode, await request.body())
    app = core(request)
    try:
        session, report = await transfer.import_document(app.sessions, data)
    except TransferError as exc:
        raise HttpError(exc.status, exc.message, exc.code) from None
    return JSONResponse({"session_id": session.id, **report, **await app.session_state(session)}, 201)


routes: list[BaseRoute] = [
    Route("/v1/sessions/import", import_session, methods=["POST"]),
    Route("/v1/sessions/{session_id}/export", export_session, methods=["GET"]),
]
