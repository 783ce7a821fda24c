"""A small HTTP service for workflow HTTP tool and retriever nodes: counts calls, can hold one open."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .serving import LoopbackServer


class ToolServer:
    """``/count/{name}`` counts and echoes; ``/hold`` blocks its first call until ``release()``;
    ``/documents`` serves retriever documents; every request is recorded in ``requests``."""

    def __init__(self, documents: list[dict[str, Any]] | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.documents = documents or []
        self.held = asyncio.Event()  # set when the first /hold call arrived
        self._release = asyncio.Event()
        app = Starlette(
            routes=[
                Route("/count/{name}", self._count, methods=["GET", "POST"]),
                Route("/hold", self._hold),
                Route("/documents", self._documents),
            ]
        )
        self._server = LoopbackServer(app)
        self.url = ""

    async def start(self) -> str:
        port = await self._server.start()
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        self._release.set()
        await self._server.stop()

    def release(self) -> None:
        self._release.set()

    async def _count(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.calls[name] += 1
        body = (await request.body()).decode() or None
        record = {"name": name, "method": request.method, "query": dict(request.query_params), "body": body,
                  "headers": {k: v for k, v in request.headers.items() if k.startswith("x-")}}  # fmt: skip
        self.requests.append(record)
        return JSONResponse({"name": name, "count": self.calls[name], "query": record["query"]})

    async def _hold(self, request: Request) -> Response:
        self.calls["hold"] += 1
        if self.calls["hold"] == 1:
            self.held.set()
            await self._release.wait()
        return JSONResponse({"held": self.calls["hold"]})

    async def _documents(self, request: Request) -> Response:
        return JSONResponse({"documents": self.documents})
