"""A lean OpenAI-compatible streaming model for benchmarks: raw asyncio HTTP/1.1, keep-alive, SSE.

Every token is one SSE chunk whose text is `` t<index>@<send time>`` where the send time is
CLOCK_MONOTONIC in ns taken just before the chunk is written to the socket, so a client in any
process of this machine can compute per-token latency from the text it receives.

What to stream is read from the request's last user message: ``BENCH n=<tokens> rate=<tok/s>``
(``rate=0``: as fast as the socket takes them; ``nagle=1``: this response with Nagle's algorithm on
and every piece written on its own, as HTTP stacks without ``TCP_NODELAY`` do; ``GET
/bench/last-done`` then tells when its ``[DONE]`` was written). Any other request (the gateway's summarizer, say)
gets a short fixed reply. Run: ``python -m benchsuite.fakemodel --port 0`` (prints a JSON
``{"event":"listening","port":N}`` line when ready).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import socket
import sys
import time

from .common import raise_fd_limit

_clock = time.clock_gettime_ns
_MONO = time.CLOCK_MONOTONIC

DIRECTIVE = re.compile(r"^BENCH\s+n=(\d+)\s+rate=([\d.]+)(?:\s+nagle=(\d))?")
OTHER_REPLY = ["Summary", ":", " the", " user", " ran", " benchmark", " turns", "."]
HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
PREFIX = (
    'data: {"id":"chatcmpl-b","object":"chat.completion.chunk","created":0,"model":"fake-model",'
    '"choices":[{"index":0,"delta":'
)
ROLE = PREFIX + '{"role":"assistant","content":""},"finish_reason":null}]}\n\n'
STOP = PREFIX + '{},"finish_reason":"stop"}]}\n\n'
DONE = "data: [DONE]\n\n"


def _frame(payload: str) -> bytes:
    data = payload.encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


def _content(text: str) -> bytes:
    return _frame(PREFIX + '{"content":"' + text + '"},"finish_reason":null}]}\n\n')


def _usage(prompt: int, completion: int) -> bytes:
    body = {
        "id": "chatcmpl-b",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake-model",
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }
    return _frame("data: " + json.dumps(body, separators=(",", ":")) + "\n\n")


def _json_response(status: str, body: object) -> bytes:
    data = json.dumps(body).encode()
    return b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        status.encode(),
        len(data),
        data,
    )


def last_user(messages: list[dict[str, object]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            content = m.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


class FakeModel:
    def __init__(self) -> None:
        self.streams = 0
        self.tokens = 0
        self.last_body = b""
        self.done_ns = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path = lines[0].split(" ")[:2]
                length = 0
                for line in lines[1:]:
                    if line[:15].lower() == "content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length) if length else b""
                if method == "GET" and path.endswith("/bench/last-done"):
                    writer.write(_json_response("200 OK", {"done_ns": self.done_ns}))
                    continue
                if method == "GET" and path.endswith("/bench/last-request"):
                    writer.write(_json_response("200 OK", json.loads(self.last_body or b"{}")))
                    continue
                if method == "GET":
                    writer.write(_json_response("200 OK", {"object": "list", "data": [{"id": "fake-model"}]}))
                    continue
                if not path.endswith("/chat/completions"):
                    writer.write(_json_response("404 Not Found", {"error": {"message": "no such route"}}))
                    continue
                request = json.loads(body)
                self.last_body = body
                if not request.get("stream"):
                    writer.write(_json_response("200 OK", self._completion(request)))
                    continue
                await self._stream(request, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def _completion(self, request: dict[str, object]) -> dict[str, object]:
        return {
            "id": "chatcmpl-b",
            "object": "chat.completion",
            "created": 0,
            "model": "fake-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(OTHER_REPLY)},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": len(OTHER_REPLY), "total_tokens": 1 + len(OTHER_REPLY)},
        }  # fmt: skip

    async def _stream(self, request: dict[str, object], writer: asyncio.StreamWriter) -> None:
        self.streams += 1
        messages = request.get("messages")
        text = last_user(messages if isinstance(messages, list) else [])
        match = DIRECTIVE.match(text.strip())
        transport = writer.transport
        if match is not None and match.group(3) == "1":
            await self._stream_nagle(int(match.group(1)), writer)
            return
        writer.write(HEAD + _frame(ROLE))
        sent = 0
        if match is None:
            for piece in OTHER_REPLY:
                writer.write(_content(piece))
            sent = len(OTHER_REPLY)
        else:
            n, rate = int(match.group(1)), float(match.group(2))
            loop = asyncio.get_running_loop()
            start = loop.time()
            for i in range(n):
                if rate > 0:
                    delay = start + i / rate - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                elif i % 8 == 7:
                    await asyncio.sleep(0)
                if transport.is_closing():
                    return
                writer.write(_content(f" t{i}@{_clock(_MONO)}"))
                if rate <= 0:
                    await writer.drain()
            sent = n
        self.tokens += sent
        tail = _frame(STOP)
        options = request.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            tail += _usage(len(text) // 4 + 1, sent)
        self.done_ns = _clock(_MONO)
        writer.write(tail + _frame(DONE) + b"0\r\n\r\n")
        await writer.drain()

    async def _stream_nagle(self, n: int, writer: asyncio.StreamWriter) -> None:
        """Nagle on, one write per piece (tokens 2 ms apart, then the final chunk, [DONE], the end)."""
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        try:
            writer.write(HEAD + _frame(ROLE))
            await writer.drain()
            for i in range(n):
                await asyncio.sleep(0.002)
                writer.write(_content(f" t{i}@{_clock(_MONO)}"))
                await writer.drain()
            self.tokens += n
            writer.write(_frame(STOP))
            await writer.drain()
            self.done_ns = _clock(_MONO)
            writer.write(_frame(DONE))
            await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        finally:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def serve(port: int) -> None:
    model = FakeModel()
    server = await asyncio.start_server(model.handle, "127.0.0.1", port, backlog=4096, limit=1 << 22)
    bound = server.sockets[0].getsockname()[1]
    print(json.dumps({"event": "listening", "port": bound}), flush=True)
    async with server:
        await server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    raise_fd_limit()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
