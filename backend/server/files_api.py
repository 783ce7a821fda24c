"""Face: a session's uploaded files (docs/http-api.md, "Files").

``POST /v1/sessions/{id}/files`` takes one file as ``multipart/form-data`` (field ``file``) and
answers 201 with ``{name, size, sha256, uploaded_at, seq, paths, sandbox}``; ``GET`` lists the
session's files. The work (names, limits, storage, the team's note, the sandbox copy) is
``sessions/uploads.py``'s; this module only reads the request and maps refusals to statuses:
400 no file / bad name / bad form, 404 unknown session, 409 UPLOAD_MAX_FILES reached, 413 over
UPLOAD_MAX_BYTES, 415 not multipart. The edge lets this path carry bodies up to
:func:`body_limit` instead of MAX_BODY_BYTES (``App.allow_larger_bodies``).
"""

from __future__ import annotations

import re

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .. import protocol as p
from ..errors import UploadError
from ..sessions import uploads
from ..sessions.session import Session
from ..settings import Settings
from .auth import principal
from .http import HttpError, core

#: the route the edge lets carry an upload's body
PATH_REGEX = r"^/v1/sessions/[^/]+/files$"
#: room for the multipart framing around the file (boundaries, part headers, a long file name)
MULTIPART_OVERHEAD = 64 * 1024
FIELD = "file"
_SESSION_ID = re.compile(p.SESSION_ID_PATTERN)


def body_limit(settings: Settings) -> int:
    return settings.upload_max_bytes + MULTIPART_OVERHEAD


async def _session(request: Request) -> Session:
    session_id = request.path_params["session_id"]
    if not _SESSION_ID.match(session_id):
        raise HttpError(404, "unknown session", "unknown_session")
    return await core(request).sessions.get(session_id, principal(request))  # not visible: 404 as unknown


async def post_file(request: Request) -> Response:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "multipart/form-data":
        raise HttpError(415, f"send the file as multipart/form-data (field {FIELD!r})", "unsupported_media_type")
    session = await _session(request)
    async with request.form(max_files=1, max_fields=8, max_part_size=64 * 1024) as form:
        parts = form.getlist(FIELD)
        if len(parts) != 1 or not isinstance(parts[0], UploadFile):
            raise HttpError(400, f"send exactly one file in the form field {FIELD!r}", "no_file")
        part = parts[0]
        try:
            result = await uploads.upload(session, part.filename, part.file, part.size)
        except UploadError as exc:
            raise HttpError(exc.status, exc.message, exc.code) from None
    return JSONResponse({"session_id": session.id, **result}, 201)


async def list_files(request: Request) -> Response:
    session = await _session(request)
    return JSONResponse({"session_id": session.id, "files": await uploads.list_files(session)})


routes: list[BaseRoute] = [
    Route("/v1/sessions/{session_id}/files", list_files, methods=["GET"]),
    Route("/v1/sessions/{session_id}/files", post_file, methods=["POST"]),
]
