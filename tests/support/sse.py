"""A small SSE reader for tests: real HTTP streaming with httpx, events parsed line by line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.client import UNIT


@dataclass
class SseEvent:
    id: str | None
    event: str
    data: str
    comment: bool = False

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.data)  # type: ignore[no-any-return]


class SseReader:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines: AsyncIterator[str] = response.aiter_lines()

    async def next(self, timeout: float = 2 * UNIT, *, comments: bool = False) -> SseEvent:
        """The next event (or keep-alive comment, with ``comments=True``)."""
        fields: dict[str, str] = {}
        while True:
            line = await asyncio.wait_for(anext(self._lines), timeout)
            if line.startswith(":"):
                if comments:
                    return SseEvent(None, "", line[1:].strip(), comment=True)
                continue
            if line == "":
                if fields:
                    return SseEvent(fields.get("id"), fields.get("event", "message"), fields.get("data", ""))
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            fields[name] = fields[name] + "\n" + value if name == "data" and name in fields else value

    async def until(self, event_type: str, timeout: float = 2 * UNIT) -> list[SseEvent]:
        """Events up to and including the first of ``event_type``."""
        out = []
        while True:
            event = await self.next(timeout)
            out.append(event)
            if event.event == event_type:
                return out
