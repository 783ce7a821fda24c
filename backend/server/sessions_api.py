"""Face: the native session API over HTTP (docs/http-api.md, "Sessions and the event stream").

The same sessions, turns and timeline as the WebSocket protocol, through the same session
methods (``create``, ``submit``, ``stop``, ``answer``, ``delete``); ``/events`` streams the timeline
as SSE (``event_stream.py``). Bodies are validated with the protocol's own request models.
"""

from __future__ import annotations

import re
from typing import Any

from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .. import protocol as p
from ..sessions.session import Session
from .auth import principal
from .event_stream import KEEPALIVE_SECONDS, StreamSubscriber, timeline
from .http import HttpError, core, read_json, validated

_SESSION_ID = re.compile(p.SESSION_ID_PATTERN)
MAX_HISTORY = 10_000


async def _body(request: Request) -> dict[str, Any]:
    """A JSON object; an empty body counts as ``{}``."""
    if request.headers.get("content-length", "") == "0":
        return {}
    return await read_json(request)


async def _session(request: Request) -> Session:
    session_id = request.path_params["session_id"]
    if not _SESSION_ID.match(session_id):
        raise HttpError(404, "unknown session", "unknown_session")
    # SessionNotFoundError → 404, for another tenant's (or user's) session exactly as for an unknown one
    return await core(request).sessions.get(session_id, principal(request))


def _seq_param(value: str | None, name: str) -> int:
    if value is None or value == "":
        return 0
    if not value.isdigit() or len(value) > 18:
        raise HttpError(400, f"{name} must be a non-negative integer", "bad_request")
    return int(value)


async def create_session(request: Request) -> Response:
    body = validated(p.NewSessionRequest, {**await _body(request), "type": "new"})
    session = await core(request).sessions.create(timezone=body.tz, title=body.title, caller=principal(request))
    return JSONResponse({"session_id": session.id, **await core(request).session_state(session)}, 201)


async def list_sessions(request: Request) -> Response:
    return JSONResponse({"sessions": await core(request).sessions.list(principal(request))})


async def get_session(request: Request) -> Response:
    session = await _session(request)
    return JSONResponse({"session_id": session.id, **await core(request).session_state(session)})


async def history(request: Request) -> Response:
    session = await _session(request)
    after = _seq_param(request.query_params.get("after"), "after")
    limit = _seq_param(request.query_params.get("limit"), "limit") or 2_000
    frames = await core(request).timeline(session, after, min(limit, MAX_HISTORY))
    body = f'{{"session_id":"{session.id}","events":[{",".join(frames)}]}}'
    return Response(body, media_type="application/json")


async def delete_session(request: Request) -> Response:
    session = await _session(request)
    await core(request).delete_session(session.id)
    return JSONResponse({"deleted": session.id})


async def post_message(request: Request) -> Response:
    session = await _session(request)
    data = await read_json(request)
    body = validated(p.MessageRequest, {**data, "type": "message", "session_id": session.id, "plain": False})
    await session.set_timezone(body.tz)
    ack = await session.submit(body.content, client_id=body.client_id)  # committed before it returns
    return JSONResponse({"session_id": session.id, **ack}, 202)


async def stop(request: Request) -> Response:
    session = await _session(request)
    return JSONResponse({"session_id": session.id, "stopping": await session.stop()})


async def answer(request: Request) -> Response:
    session = await _session(request)
    data = await read_json(request)
    body = validated(p.AnswerRequest, {**data, "type": "answer", "session_id": session.id})
    await session.answer(body.question_id, body.content)
    return JSONResponse({"session_id": session.id, "question_id": body.question_id}, 202)


async def decide_approval(request: Request) -> Response:
    """``POST /v1/sessions/{id}/approvals/{approval_id}`` ``{decision, note?}``: the first decision wins."""
    session = await _session(request)
    data = await read_json(request)
    body = validated(p.ApprovalRequest, {**data, "type": "approval", "approval_id": request.path_params["approval_id"],
                                         "session_id": session.id})  # fmt: skip
    await session.decide_approval(body.approval_id, body.decision, body.note, by="http")
    return JSONResponse({"session_id": session.id, "approval_id": body.approval_id, "decision": body.decision})


async def approvals(request: Request) -> Response:
    """``GET /v1/sessions/{id}/approvals``: what is pending, and the allow_always grants."""
    session = await _session(request)
    pending = [a.to_event() for a in await session.approvals.pending()]
    return JSONResponse({"session_id": session.id, "pending": pending, "grants": await session.approvals.grants()})


async def revoke_grant(request: Request) -> Response:
    """``DELETE /v1/sessions/{id}/approvals/grants/{grant}``."""
    session = await _session(request)
    await session.revoke_grant(request.path_params["grant"])
    return JSONResponse({"session_id": session.id, "revoked": request.path_params["grant"]})


async def traces(request: Request) -> Response:
    """``GET /v1/sessions/{id}/traces?turn=<seq>``: one turn's spans (default: the latest turn)."""
    session = await _session(request)
    raw = request.query_params.get("turn")
    turn = _seq_param(raw, "turn") if raw else None
    found = await session.traces(turn)
    if found is None:
        raise HttpError(404, f"no trace for turn {turn} (turn = the seq of the message that started it)", "no_trace")
    return JSONResponse({"session_id": session.id, **found})


async def events(request: Request) -> Response:
    """SSE: ``Last-Event-ID`` (or ``?after=``) → replay from disk, then live."""
    session = await _session(request)
    last = request.headers.get("last-event-id") or request.query_params.get("after")
    after = _seq_param(last, "Last-Event-ID" if request.headers.get("last-event-id") else "after")
    app = core(request)
    if app.counters.open_sockets + len(app.streams) >= app.settings.max_connections:
        app.counters.refused_connections += 1
        raise HttpError(503, "too many connections (MAX_CONNECTIONS)", "unavailable")
    subscriber = StreamSubscriber()
    session.channel.subscribers.add(subscriber)  # before the replay: nothing falls in between
    app.streams.add(subscriber)

    async def stream() -> Any:
        try:
            async for event in timeline(app, session, subscriber, after):
                yield event
        finally:
            session.channel.subscribers.discard(subscriber)
            app.streams.discard(subscriber)
            session.touch()

    return EventSourceResponse(
        stream(),
        ping=KEEPALIVE_SECONDS,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        shutdown_event=app.shutting_down,
    )


routes: list[BaseRoute] = [
    Route("/v1/sessions", list_sessions, methods=["GET"]),
    Route("/v1/sessions", create_session, methods=["POST"]),
    Route("/v1/sessions/{session_id}", get_session, methods=["GET"]),
    Route("/v1/sessions/{session_id}", delete_session, methods=["DELETE"]),
    Route("/v1/sessions/{session_id}/history", history, methods=["GET"]),
    Route("/v1/sessions/{session_id}/messages", post_message, methods=["POST"]),
    Route("/v1/sessions/{session_id}/events", events, methods=["GET"]),
    Route("/v1/sessions/{session_id}/traces", traces, methods=["GET"]),
    Route("/v1/sessions/{session_id}/approvals", approvals, methods=["GET"]),
    Route("/v1/sessions/{session_id}/approvals/grants/{grant}", revoke_grant, methods=["DELETE"]),
    Route("/v1/sessions/{session_id}/approvals/{approval_id}", decide_approval, methods=["POST"]),
    Route("/v1/sessions/{session_id}/stop", stop, methods=["POST"]),
    Route("/v1/sessions/{session_id}/answers", answer, methods=["POST"]),
]
