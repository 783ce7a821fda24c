"""The model client's HTTP transport: the SDK's aiohttp transport with immediate ACKs on streams."""

from __future__ import annotations

import asyncio
import inspect
import json
import socket

import pytest
from openai import AsyncOpenAI, DefaultAioHttpClient
from openai._vendor.httpx_aiohttp.transport import AiohttpTransport

from backend.llm import transport as model_transport
from backend.llm.transport import model_http_client, quickack

pytestmark = pytest.mark.skipif(model_transport.QUICKACK is None, reason="TCP_QUICKACK is Linux only")


def _chunk(payload: str) -> bytes:
    data = payload.encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


class NagleModel:
    """A streaming model server that keeps Nagle's algorithm on and writes every piece on its own."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        #: the body's rest waits for this, so the client reads headers of an unfinished response
        self.proceed = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                self.requests += 1
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                )
                for piece in ("a", "b", "c"):
                    if piece == "b":
                        await self.proceed.wait()
                        self.proceed.clear()
                    delta = {"content": piece}
                    body = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                            "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}  # fmt: skip
                    writer.write(_chunk("data: " + json.dumps(body) + "\n\n"))
                    await writer.drain()
                writer.write(_chunk("data: [DONE]\n\n"))
                await writer.drain()
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        finally:
            writer.close()


async def test_the_vendored_transport_still_takes_a_session_factory() -> None:
    """Contract: the private SDK transport we build on keeps the constructor and attributes we use."""
    parameters = inspect.signature(AiohttpTransport.__init__).parameters
    assert {"limits", "client"} <= set(parameters)
    transport = AiohttpTransport()
    assert transport.ssl_context is not None
    client = DefaultAioHttpClient(transport=transport)
    try:
        assert client._transport is transport
    finally:
        await client.aclose()


async def test_every_streamed_response_leaves_ping_pong_mode_on_a_reused_connection() -> None:
    """Two streams over one keep-alive connection each get TCP_QUICKACK set when their headers arrive."""
    model = NagleModel()
    server = await asyncio.start_server(model.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    http_client = model_http_client()
    client = AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", http_client=http_client)
    before = model_transport.STATS.set
    try:
        for _ in range(2):
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            text = ""
            async for chunk in stream:
                text += chunk.choices[0].delta.content or ""
                model.proceed.set()
            assert text == "abc"
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
    assert model.requests == 2
    assert model.connections == 1, "the second request must reuse the keep-alive connection"
    assert model_transport.STATS.set - before == 2


def test_quickack_takes_a_connected_socket_out_of_ping_pong_mode() -> None:
    """After a request/response exchange the kernel delays ACKs; quickack() switches that off."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    peer, _ = listener.accept()
    try:
        client.sendall(b"request")
        assert peer.recv(16) == b"request"
        peer.sendall(b"response")
        assert client.recv(16) == b"response"
        client.sendall(b"next request")  # a reply soon after a receive: the kernel enters ping-pong
        assert peer.recv(16) == b"next request"
        assert quickack(client) is True
        assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 1
    finally:
        for sock in (client, peer, listener):
            sock.close()


def test_quickack_ignores_what_is_not_a_tcp_socket() -> None:
    """Unix sockets and a missing socket are left alone, not an error."""
    left, right = socket.socketpair()
    try:
        assert quickack(left) is False
        assert quickack(None) is False
    finally:
        left.close()
        right.close()
