"""A gateway client: one WebSocket connection watching one session, reading frames without json.loads
(only the rare control frames are parsed)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from .common import now_ns
from .streams import StreamResult, directive


class GatewayClient:
    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: ClientConnection | None = None
        self.session_id: str | None = None
        self.last_seq = 0

    async def connect(self, attempts: int = 6) -> GatewayClient:
        """Connect, retrying a refused connection (a burst of connects can overflow the listen backlog)."""
        for attempt in range(attempts):
            try:
                self.ws = await connect(
                    self.url, max_size=None, compression=None, ping_interval=None, open_timeout=120, max_queue=None
                )
                return self
            except OSError:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def _send(self, body: dict[str, Any]) -> int:
        assert self.ws is not None
        data = json.dumps(body)
        sent = now_ns()
        await self.ws.send(data)
        return sent

    async def resume(self, session_id: str, last_seq: int = 0) -> tuple[int, int]:
        """Attach to a stored session; returns (sent ns, ``resumed`` received ns)."""
        assert self.ws is not None
        sent = await self._send({"type": "resume", "session_id": session_id, "last_seq": last_seq})
        while True:
            frame = await self.ws.recv()
            received = now_ns()
            assert isinstance(frame, str)
            if frame.startswith('{"type":"resumed"'):
                self.session_id = session_id
                self.last_seq = int(json.loads(frame)["last_seq"])
                return sent, received
            if frame.startswith('{"type":"error"'):
                raise RuntimeError(frame)

    async def ping(self) -> int:
        assert self.ws is not None
        sent = await self._send({"type": "ping"})
        while True:
            frame = await self.ws.recv()
            if isinstance(frame, str) and frame.startswith('{"type":"pong"'):
                return now_ns() - sent

    async def turn(
        self, tokens: int, rate: float, content: str | None = None, *, result: StreamResult | None = None
    ) -> StreamResult:
        """Send one message and read until its ``done``: every model token, by content (into
        ``result`` when given, e.g. one that keeps each token's send time)."""
        assert self.ws is not None
        result = result if result is not None else StreamResult()
        result.expected = tokens
        body: dict[str, Any] = {"type": "message", "content": content or directive(tokens, rate)}
        if self.session_id:
            body["session_id"] = self.session_id
        result.sent_ns = await self._send(body)
        recv = self.ws.recv
        while True:
            frame = await recv()
            received = now_ns()
            assert isinstance(frame, str)
            if frame.startswith('{"type":"delta"'):
                result.take(frame, received)
            elif frame.startswith('{"type":"response"'):
                result.extra["response_ns"] = received
            elif frame.startswith('{"type":"done"'):
                data = json.loads(frame)
                self.last_seq = int(data["seq"])
                if data.get("status") != "ok":
                    result.error = result.error or f"done status {data.get('status')}"
                break
            elif frame.startswith('{"type":"user_message"'):
                result.extra["ack_ns"] = received - result.sent_ns
            elif frame.startswith('{"type":"session"'):
                self.session_id = json.loads(frame)["session_id"]
            elif frame.startswith('{"type":"error"'):
                result.error = json.loads(frame).get("message", "error")
        result.end_ns = now_ns()
        result.session_id = self.session_id
        return result
