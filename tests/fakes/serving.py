"""Run an ASGI app with uvicorn on loopback inside the current event loop (for test doubles)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import uvicorn


class LoopbackServer:
    """``await start()`` binds 127.0.0.1:<port or a free one>; ``await stop()`` shuts it down."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = 0
        self._server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self, port: int = 0) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self.task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            await asyncio.sleep(0.01)
        return self.port

    def request_exit(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True

    async def stop(self) -> None:
        self.request_exit()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self.task, 5)
        self.task = None
