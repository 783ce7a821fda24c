"""A recording HTTP proxy for a real model server: forwards everything, keeps every request body.

Lets a test see the exact JSON our server sent to a real model (the embedded llama.cpp server),
then ask that model server itself how many prompt tokens that request has.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.serving import LoopbackServer

HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "host"}


class RecordingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")  # e.g. http://127.0.0.1:PORT (no /v1)
        self.bodies: list[dict[str, Any]] = []
        self.port = 0
        self._client = httpx.AsyncClient(timeout=300)
        self.app = Starlette(routes=[Route("/{path:path}", self._forward, methods=["GET", "POST"])])
        self._http = LoopbackServer(self.app)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        self.port = await self._http.start()

    async def stop(self) -> None:
        await self._http.stop()
        await self._client.aclose()

    async def _forward(self, request: Request) -> Response:
        body = await request.body()
        if request.url.path.endswith("/chat/completions"):
            self.bodies.append(json.loads(body))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        upstream = self._client.build_request(
            request.method, self.upstream + request.url.path, content=body, headers=headers
        )
        response = await self._client.send(upstream, stream=True)

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_raw():
                    yield chunk
            finally:
                await response.aclose()

        out_headers = {k: v for k, v in response.headers.items() if k.lower() not in HOP_HEADERS}
        return StreamingResponse(relay(), status_code=response.status_code, headers=out_headers)
