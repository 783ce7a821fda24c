"""Face: an OpenAI-compatible chat endpoint (docs/http-api.md, "OpenAI-compatible chat").

``POST /v1/chat/completions`` (also ``/api/chat/completions``), streamed or not, and
``GET /v1/models``. A request runs as an ordinary turn of a session (``Session.submit``, the same
path as a WebSocket message: explicit terminal modes work); there is no second code path for turns.

* ``conversation_id`` (top level, ``metadata.conversation_id`` or the ``X-Conversation-Id`` header)
  binds the request to a durable session whose id is derived from it (a keyed hash, so a
  conversation id is never taken as a session id); only the last user message is new input, the
  session's own history and summary carry the rest.
* Without it the request is stateless: a fresh session whose first message carries the request's
  earlier messages as a transcript (the context budget folds or truncates it like any message).
* ``content`` is the user-facing answer: with a one-agent team the agent's deltas stream as they
  come; with several agents only the final answer is sent (other agents' text and tool activity
  never go into ``content``). Keep-alive comments flow during long tool calls.
* A pending question ends the turn with a message pointing to the session's native API.
* A client that disconnects mid-stream stops the turn; what was produced stays in the timeline.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ..errors import AgentChatError, BusyError
from ..identity.principal import ANONYMOUS, Principal
from ..sessions.session import Session
from .auth import principal
from .http import HttpError, core, read_json
from .http_turn import HttpTurn

CONVERSATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")
MAX_MESSAGES = 1_000
ROLES = {"system", "developer", "user", "assistant", "tool"}


class OpenAIError(Exception):
    """An error answered in OpenAI's shape."""

    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}
        return JSONResponse(body, self.status)


def _text(content: Any) -> str:
    """A message's content as text (a string, or OpenAI's list of parts: text parts only)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    if content is None:
        return ""
    raise OpenAIError(400, "messages[].content must be a string or a list of content parts", param="messages")


def parse_request(body: dict[str, Any], header_conversation: str | None) -> dict[str, Any]:
    """Validate an OpenAI chat request (pure); returns what the endpoint needs."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise OpenAIError(400, "'messages' must be a non-empty array", param="messages")
    if len(messages) > MAX_MESSAGES:
        raise OpenAIError(400, f"at most {MAX_MESSAGES} messages per request", param="messages")
    parsed: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise OpenAIError(400, f"messages[{index}] needs a role of {sorted(ROLES)}", param=f"messages[{index}]")
        parsed.append((message["role"], _text(message.get("content"))))
    if parsed[-1][0] != "user" or not parsed[-1][1].strip():
        raise OpenAIError(400, "the last message must be a non-empty user message", param="messages")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise OpenAIError(400, "'stream' must be a boolean", param="stream")
    raw_metadata = body.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    conversation = body.get("conversation_id") or metadata.get("conversation_id") or header_conversation
    if conversation is not None and (not isinstance(conversation, str) or not CONVERSATION_ID.match(conversation)):
        raise OpenAIError(
            400, "conversation_id must be 1-200 characters of letters, digits and . _ : -", param="conversation_id"
        )
    raw_options = body.get("stream_options")
    options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
    model = body.get("model")
    return {
        "messages": parsed,
        "stream": stream,
        "conversation_id": conversation,
        "include_usage": bool(options.get("include_usage")),
        "model": model if isinstance(model, str) and model else None,
    }


def transcript(messages: list[tuple[str, str]]) -> str:
    """A stateless request's input: its earlier messages as a transcript, then the new message."""
    *earlier, (_, last) = messages
    if not earlier:
        return last
    lines = [f"{role}: {text}" for role, text in earlier if text.strip()]
    return "[The conversation so far:]\n" + "\n".join(lines) + f"\n\n[The user now says:]\n{last}"


def session_for(conversation_id: str, caller: Principal = ANONYMOUS) -> str:
    """Our session id for a conversation id: derived, never the client's string itself; per tenant
    and user in AUTH_MODE=keys (two callers' "conversation 1" are two sessions)."""
    scope = "" if caller is ANONYMOUS else f"{caller.tenant}\0{caller.user_id}\0"
    return hashlib.sha256(f"openai-conversation:{scope}{conversation_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Completion:
    """What every chunk of one answer carries."""

    cid: str
    model: str
    created: int
    single: bool  # one-agent team: its deltas are the answer and stream as they come
    include_usage: bool
    extra: dict[str, Any]

    def chunk(self, delta: dict[str, Any], finish: str | None = None, *, first: bool = False) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        body: dict[str, Any] = {"id": self.cid, "object": "chat.completion.chunk", "created": self.created,
                                "model": self.model, "choices": [choice]}  # fmt: skip
        if first:
            body.update(self.extra)
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    def usage_chunk(self, usage: dict[str, int]) -> str:
        body: dict[str, Any] = {"id": self.cid, "object": "chat.completion.chunk", "created": self.created,
                                "model": self.model, "choices": [], "usage": usage}  # fmt: skip
        return f"data: {json.dumps(body)}\n\n"


async def _session(request: Request, conversation: str | None, title: str) -> Session:
    app = core(request)
    caller = principal(request)
    if conversation is None:
        return await app.sessions.create(title=title, caller=caller)
    session_id = session_for(conversation, caller)
    try:
        return await app.sessions.get(session_id, caller)
    except AgentChatError as exc:
        if exc.code != "unknown_session":
            raise
    try:
        return await app.sessions.create(
            title=f"conversation {conversation[:60]}", session_id=session_id, caller=caller
        )
    except Exception:  # created meanwhile by a concurrent request
        return await app.sessions.get(session_id, caller)


async def chat_completions(request: Request) -> Response:
    try:
        return await _chat_completions(request)
    except OpenAIError as exc:
        return exc.response()
    except HttpError as exc:
        return OpenAIError(exc.status, exc.message, code=exc.code).response()
    except BusyError as exc:
        return OpenAIError(429, exc.message, kind="rate_limit_error", code=exc.code).response()


async def _chat_completions(request: Request) -> Response:
    app = core(request)
    try:
        body = await read_json(request)
    except HttpError as exc:
        raise OpenAIError(exc.status, exc.message, code=exc.code) from None
    req = parse_request(body, request.headers.get("x-conversation-id"))
    team = app.factory.spec.name
    headers: dict[str, str] = {}
    if req["model"] != team:
        headers["X-Model-Warning"] = f"model {req['model']!r} is not a team here; answered by the team {team!r}"
    session = await _session(request, req["conversation_id"], "OpenAI request")
    content = req["messages"][-1][1] if req["conversation_id"] else transcript(req["messages"])
    turn = await HttpTurn.start(app, session, content)
    single = len(app.factory.spec.agents) == 1
    cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    headers |= {"X-Conversation-Id": req["conversation_id"] or "", "X-Session-Id": session.id}
    extra = {"conversation_id": req["conversation_id"], "session_id": session.id}
    if req["stream"]:
        plan = Completion(cid, team, created, single, req["include_usage"], extra)
        return StreamingResponse(
            _stream(turn, plan), media_type="text/event-stream", headers=headers | {"Cache-Control": "no-store"}
        )
    await turn.wait()
    if turn.watch.done is None:
        raise OpenAIError(503, "the stream ended (server shutting down or the session was deleted)", kind="api_error")
    if turn.watch.failed:
        message, code = turn.error_message()
        raise OpenAIError(turn.error_status(), message, kind="api_error", code=code)
    result = {
        "id": cid, "object": "chat.completion", "created": created, "model": team,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": turn.final_text()},
                     "finish_reason": "stop"}],
        "usage": _usage(turn), **extra,
    }  # fmt: skip
    return JSONResponse(result, headers=headers)


def _usage(turn: HttpTurn) -> dict[str, int]:
    prompt, completion = turn.watch.usage
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def _stream(turn: HttpTurn, plan: Completion) -> AsyncIterator[str]:
    yield plan.chunk({"role": "assistant", "content": ""}, first=True)
    sent = ""
    async for text in turn.follow():  # closing this early (the client went away) stops the turn
        if text is None:
            yield ": keep-alive\n\n"
        elif plan.single:
            sent += text
            yield plan.chunk({"content": text})
    if turn.watch.done is None:
        return  # the server is shutting down: no [DONE], the client sees a cut stream
    answer = turn.final_text()
    rest = answer[len(sent) :] if answer.startswith(sent) else ""
    if rest:  # several agents (only the final answer), or text the deltas did not carry
        yield plan.chunk({"content": rest})
    if turn.watch.failed:
        message, code = turn.error_message()
        body = {"error": {"message": message, "type": "api_error", "param": None, "code": code}}
        yield f"data: {json.dumps(body)}\n\n"
    yield plan.chunk({}, "stop")
    if plan.include_usage:
        yield plan.usage_chunk(_usage(turn))
    yield "data: [DONE]\n\n"


async def models(request: Request) -> Response:
    app = core(request)
    spec = app.factory.spec
    data = [{"id": spec.name, "object": "model", "created": int(app.started), "owned_by": "agentchat",
             "description": spec.description}]  # fmt: skip
    return JSONResponse({"object": "list", "data": data})


routes: list[BaseRoute] = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/api/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/models", models, methods=["GET"]),
]
