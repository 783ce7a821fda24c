"""Face: the earlier streaming agent's routes, kept so its users' scripts keep working.

* ``POST /chat/stream`` ``{message, system_prompt?, session_id?}`` answers SSE ``data:`` lines:
  ``{"type":"start",...}``, ``{"type":"content","chunk":...}`` while the answer streams, then
  ``{"type":"complete","full_content":...,"usage":{input_tokens, output_tokens, total_tokens,
  total_cost}}`` or ``{"type":"error","error":...}``.
* ``POST /chat``: the same turn answered as one JSON object (the ``complete`` frame).
* ``GET /health``: liveness in the earlier service's words (``/healthz`` has the details).

Each request is an ordinary turn (:class:`~backend.server.http_turn.HttpTurn`): without
``session_id`` a fresh session (the earlier service kept no memory), with one the session continues.
``system_prompt`` is given to the team as instructions for this message (the team's own system
prompts stay as configured). Several-agent teams stream only the final answer, as on the OpenAI face.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from .. import __version__
from .. import protocol as p
from ..sessions.session import Session
from .auth import principal
from .http import HttpError, core, read_json, validated
from .http_turn import HttpTurn

if TYPE_CHECKING:
    from .app import App

START_MESSAGE = "开始生成响应..."
MAX_SYSTEM_PROMPT = 8_000


def compose(message: str, system_prompt: str | None) -> str:
    """The turn's input: the request's system prompt, when given, as instructions for this message."""
    if not system_prompt or not system_prompt.strip():
        return message
    return f"[Instructions for this request:]\n{system_prompt.strip()}\n\n[The user says:]\n{message}"


async def _turn(request: Request) -> tuple[App, HttpTurn]:
    app = core(request)
    body = await read_json(request)
    message = body.get("message")
    system_prompt = body.get("system_prompt")
    session_id = body.get("session_id")
    if not isinstance(message, str) or not message.strip():
        raise HttpError(400, "'message' must be a non-empty string", "bad_request")
    if system_prompt is not None and (not isinstance(system_prompt, str) or len(system_prompt) > MAX_SYSTEM_PROMPT):
        raise HttpError(400, f"'system_prompt' must be a string of at most {MAX_SYSTEM_PROMPT} characters")
    content = compose(message, system_prompt)
    checked = validated(p.MessageRequest, {"type": "message", "content": content, "session_id": session_id})
    session: Session
    if checked.session_id is None:
        session = await app.sessions.create(title=message[:60], caller=principal(request))
    else:
        session = await app.sessions.get(checked.session_id, principal(request))  # unknown or not visible: 404
    return app, await HttpTurn.start(app, session, checked.content)


def _usage(app: App, turn: HttpTurn) -> dict[str, Any]:
    prompt, completion = turn.watch.usage
    return {
        "input_tokens": prompt,
        "output_tokens": completion,
        "total_tokens": prompt + completion,
        "total_cost": app.sessions.services.stats.turn_cost(prompt, completion),
    }


def _end(app: App, turn: HttpTurn) -> dict[str, Any]:
    """The last frame: ``complete`` or ``error``."""
    if turn.watch.done is None:
        return {"type": "error", "error": "the stream ended (server shutting down or the session was deleted)"}
    if turn.watch.failed:
        message, code = turn.error_message()
        return {"type": "error", "error": message, "code": code}
    return {
        "type": "complete",
        "full_content": turn.final_text(),
        "usage": _usage(app, turn),
        "session_id": turn.session.id,
    }


def _sse(frame: dict[str, Any]) -> str:
    return f"data: {json.dumps(frame, ensure_ascii=False)}\n\n"


async def chat_stream(request: Request) -> Response:
    app, turn = await _turn(request)
    single = len(app.factory.spec.agents) == 1

    async def frames() -> AsyncIterator[str]:
        yield _sse({"type": "start", "message": START_MESSAGE, "session_id": turn.session.id})
        sent = ""
        async for text in turn.follow():  # closing this early (the client went away) stops the turn
            if text is None:
                yield ": keep-alive\n\n"
            elif single:
                sent += text
                yield _sse({"type": "content", "chunk": text})
        end = _end(app, turn)
        if end["type"] == "complete":
            answer = str(end["full_content"])
            rest = answer[len(sent) :] if answer.startswith(sent) else ""
            if rest:
                yield _sse({"type": "content", "chunk": rest})
        yield _sse(end)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no", "X-Session-Id": turn.session.id}
    return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)


async def chat(request: Request) -> Response:
    app, turn = await _turn(request)
    await turn.wait()
    end = _end(app, turn)
    if end["type"] == "error":
        status = 503 if turn.watch.done is None else turn.error_status()
        return JSONResponse(end, status)
    return JSONResponse({**end, "response": end["full_content"]})


async def health(request: Request) -> Response:
    app = core(request)
    status = await app.health()
    ok = status.get("status") == "ok"
    body = {
        "status": "healthy" if ok else "unhealthy",
        "streaming": True,
        "version": __version__,
        "model": status["model"]["model"],
        "model_reachable": status["model"]["reachable"],
        "sessions": status["sessions"]["active"],
    }
    return JSONResponse(body, 200 if ok else 503)


routes: list[BaseRoute] = [
    Route("/chat/stream", chat_stream, methods=["POST"]),
    Route("/chat", chat, methods=["POST"]),
    Route("/health", health, methods=["GET", "HEAD"]),
]
