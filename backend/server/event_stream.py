"""A session's timeline as Server-Sent Events: replay from disk, then live, with no gap and no duplicate.

The subscriber is attached to the session's channel *before* the replay starts, so an event
committed while the replay is being written is queued and not lost; queued frames at or below the
last replayed ``seq`` are dropped, so none is sent twice. The replay is read in pages
(``REPLAY_PAGE`` events), each written before the next is read. A client that cannot keep up
(``MAX_QUEUED_FRAMES`` live frames waiting) is ended; it reconnects with ``Last-Event-ID``.

Each SSE event: ``id: <seq>``, ``event: <type>``, ``data: <the WebSocket frame, byte for byte>``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from sse_starlette.event import ServerSentEvent

if TYPE_CHECKING:
    from ..sessions.session import Session
    from .app import App

logger = logging.getLogger(__name__)

REPLAY_PAGE = 500
MAX_QUEUED_FRAMES = 10_000
KEEPALIVE_SECONDS = 15.0


class StreamSubscriber:
    """A channel subscriber that queues frames for one SSE response (``deliver`` never awaits)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.overflowed = False

    def deliver(self, frame: str) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= MAX_QUEUED_FRAMES:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(frame)

    def end(self) -> None:
        """Server shutdown or session deleted: finish the response after what is queued."""
        self.queue.put_nowait(None)


def to_event(frame: str) -> tuple[int | None, ServerSentEvent]:
    body: dict[str, Any] = json.loads(frame)
    seq = body.get("seq")
    seq = seq if isinstance(seq, int) else None
    return seq, ServerSentEvent(
        data=frame, event=str(body.get("type", "message")), id=None if seq is None else str(seq)
    )


async def timeline(
    app: App, session: Session, subscriber: StreamSubscriber, after: int
) -> AsyncIterator[ServerSentEvent]:
    """Events of ``session`` above ``after``: stored ones first (paged), then live ones."""
    cursor = after
    while True:
        frames = await app.timeline(session, cursor, REPLAY_PAGE)
        for frame in frames:
            seq, event = to_event(frame)
            if seq is not None:
                cursor = max(cursor, seq)
            yield event
        if len(frames) < REPLAY_PAGE:
            break
    while True:
        live = await subscriber.queue.get()
        if live is None:
            if subscriber.overflowed:
                logger.info("event stream of session %s ended: client too slow", session.id)
            return
        seq, event = to_event(live)
        if seq is not None:
            if seq <= cursor:
                continue  # already sent from disk
            cursor = seq
        yield event
