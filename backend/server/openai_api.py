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

import asyncio
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
from ..sessions.session import Session
from .event_stream import StreamSubscriber
from .http import HttpError, core, read_json

CONVERSATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")
MAX_MESSAGES = 1_000
KEEPALIVE_SECONDS = 15.0
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


def session_for(conversation_id: str) -> str:
    """Our session id for a conversation id: derived, never the client's string itself."""
    return hashlib.sha256(f"openai-conversation:{conversation_id}".encode()).hexdigest()[:32]


class TurnWatch:
    """Follows one turn of a session through its timeline frames (pure bookkeeping)."""

    def __init__(self, after_seq: int, skip_dones: int) -> None:
        self.after_seq = after_seq
        self.skip = skip_dones
        self.text: list[str] = []
        self.response: str | None = None
        self.done: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.question: dict[str, Any] | None = None

    def take(self, event: dict[str, Any]) -> str | None:
        """Feed one event; returns user-facing text to stream now (or None)."""
        seq = event.get("seq")
        if isinstance(seq, int) and seq <= self.after_seq:
            return None
        kind = event.get("type")
        if kind == "done":
            if self.skip:
                self.skip -= 1
                self.text, self.response, self.error = [], None, None
                return None
            self.done = event
        elif self.skip:
            return None
        elif kind == "delta":
            self.text.append(str(event.get("content", "")))
            return str(event.get("content", ""))
        elif kind == "response":
            self.response = str(event.get("content", ""))
        elif kind == "error":
            self.error = event
        elif kind == "question":
            self.question = event
        return None

    @property
    def answer(self) -> str:
        return self.response if self.response is not None else "".join(self.text)


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
    if conversation is None:
        return await app.sessions.create(title=title)
    session_id = session_for(conversation)
    try:
        return await app.sessions.get(session_id)
    except AgentChatError as exc:
        if exc.code != "unknown_session":
            raise
    try:
        return await app.sessions.create(title=f"conversation {conversation[:60]}", session_id=session_id)
    except Exception:  # created meanwhile by a concurrent request
        return await app.sessions.get(session_id)


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
    subscriber = StreamSubscriber()
    session.channel.subscribers.add(subscriber)
    state = await app.session_state(session)
    ahead = int(state["queued"]) + (1 if state["running"] else 0)
    try:
        ack = await session.submit(content)
    except BaseException:
        session.channel.subscribers.discard(subscriber)
        raise
    watch = TurnWatch(int(ack.get("seq") or 0), ahead)
    single = len(app.factory.spec.agents) == 1
    cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    headers |= {"X-Conversation-Id": req["conversation_id"] or "", "X-Session-Id": session.id}
    extra = {"conversation_id": req["conversation_id"], "session_id": session.id}
    if req["stream"]:
        plan = Completion(cid, team, created, single, req["include_usage"], extra)
        stream = _stream(request, session, subscriber, watch, plan)
        return StreamingResponse(
            stream, media_type="text/event-stream", headers=headers | {"Cache-Control": "no-store"}
        )
    try:
        await _until_done(session, subscriber, watch)
    finally:
        session.channel.subscribers.discard(subscriber)
    if watch.done is not None and watch.done.get("status") == "error" and not watch.answer:
        message = (watch.error or {}).get("message", "the turn failed")
        raise OpenAIError(502, message, kind="api_error", code=(watch.error or {}).get("code"))
    usage = _usage(watch)
    result = {
        "id": cid, "object": "chat.completion", "created": created, "model": team,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": _final_text(watch, session)},
                     "finish_reason": "stop"}],
        "usage": usage, **extra,
    }  # fmt: skip
    return JSONResponse(result, headers=headers)


def _final_text(watch: TurnWatch, session: Session) -> str:
    if watch.question is not None:
        return (
            f"{watch.answer}\n\n[The team asked: {watch.question.get('content', '')!s} — answer questions "
            f"through the session API: POST /v1/sessions/{session.id}/answers. This request's turn was ended.]"
        ).strip()
    return watch.answer


def _usage(watch: TurnWatch) -> dict[str, int]:
    usage = (watch.done or {}).get("usage") or {}
    prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def _next(subscriber: StreamSubscriber, timeout: float) -> str | None:
    try:
        return await asyncio.wait_for(subscriber.queue.get(), timeout)
    except TimeoutError:
        return ""  # nothing for a while: the caller may send a keep-alive


async def _until_done(session: Session, subscriber: StreamSubscriber, watch: TurnWatch) -> None:
    while watch.done is None:
        frame = await _next(subscriber, KEEPALIVE_SECONDS)
        if frame is None:
            raise OpenAIError(503, "the stream ended (server shutting down or client too slow)", kind="api_error")
        if frame:
            watch.take(json.loads(frame))
            if watch.question is not None and watch.done is None:
                await session.stop()  # HTTP clients cannot answer here: end the turn, say where to answer


async def _stream(
    request: Request, session: Session, subscriber: StreamSubscriber, watch: TurnWatch, plan: Completion
) -> AsyncIterator[str]:
    finished = False
    try:
        yield plan.chunk({"role": "assistant", "content": ""}, first=True)
        sent = ""
        while watch.done is None:
            frame = await _next(subscriber, KEEPALIVE_SECONDS)
            if frame is None or await request.is_disconnected():
                return  # (the finally stops the turn) uvicorn does not fail a send to a gone client
            if not frame:
                yield ": keep-alive\n\n"
                continue
            text = watch.take(json.loads(frame))
            if watch.question is not None and watch.done is None:
                await session.stop()
            if text and plan.single:
                sent += text
                yield plan.chunk({"content": text})
        finished = True
        answer = _final_text(watch, session)
        rest = answer[len(sent) :] if answer.startswith(sent) else ""
        if rest:  # several agents (only the final answer), or text the deltas did not carry
            yield plan.chunk({"content": rest})
        if watch.done is not None and watch.done.get("status") == "error" and not watch.answer:
            error = watch.error or {}
            body = {"error": {"message": error.get("message", "the turn failed"), "type": "api_error",
                              "param": None, "code": error.get("code")}}  # fmt: skip
            yield f"data: {json.dumps(body)}\n\n"
        yield plan.chunk({}, "stop")
        if plan.include_usage:
            yield plan.usage_chunk(_usage(watch))
        yield "data: [DONE]\n\n"
    finally:
        session.channel.subscribers.discard(subscriber)
        if not finished and watch.done is None:
            await asyncio.shield(session.stop())  # the client went away: stop the turn


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
