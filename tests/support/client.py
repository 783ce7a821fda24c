"""A small protocol client for tests: real websockets over loopback, JSON in and out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

UNIT = 5.0  # seconds; every wait in the suite is a multiple of this


class WsClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> WsClient:
        kwargs.setdefault("open_timeout", UNIT)
        kwargs.setdefault("max_size", 2**24)
        return cls(await connect(url, **kwargs))

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def recv(self, timeout: float = UNIT) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        event = json.loads(raw)
        self.seen.append(event)
        return event

    async def recv_until(
        self, predicate: str | Callable[[dict[str, Any]], bool], timeout: float = 2 * UNIT
    ) -> list[dict[str, Any]]:
        """Events up to and including the first that matches (a type name or a predicate)."""
        match = (lambda e: e["type"] == predicate) if isinstance(predicate, str) else predicate
        out: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = await self.recv(max(0.01, deadline - loop.time()))
            out.append(event)
            if match(event):
                return out

    async def turn(self, content: str, timeout: float = 2 * UNIT, **fields: Any) -> list[dict[str, Any]]:
        """Send a message and collect every event until its ``done``."""
        await self.send(type="message", content=content, **fields)
        return await self.recv_until("done", timeout)

    async def close(self) -> None:
        await self.ws.close()


def of_type(events: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == type_]


def text_of(events: list[dict[str, Any]]) -> str:
    """The streamed text of a turn: all its deltas joined."""
    return "".join(e["content"] for e in events if e["type"] == "delta")
