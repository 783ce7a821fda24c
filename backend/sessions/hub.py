"""The event hub: numbers, persists and fans out every timeline event, in batches.

``emit`` assigns the session's next ``seq`` and queues the event. Once per event-loop iteration
the hub encodes everything queued, writes it to SQLite in one transaction and only then hands each
frame to the session's subscribers, so a client never sees an event that is not on disk.
Consecutive deltas of one agent of one session queued in the same iteration are coalesced into one
event (one seq, one row, one frame), even when other sessions' events were queued in between: under
load that is where the per-token cost goes away, and a client that resumes gets exactly what live
clients got.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any, Protocol

from ..protocol import encode, encode_delta
from ..store import EventRow, Store

logger = logging.getLogger(__name__)


class Subscriber(Protocol):
    """A connection watching a session. ``deliver`` must not block."""

    def deliver(self, frame: str) -> None: ...


class Channel:
    """The per-session part of the hub: sequence counter and subscribers."""

    __slots__ = ("last_seq", "session_id", "subscribers")

    def __init__(self, session_id: str, last_seq: int) -> None:
        self.session_id = session_id
        self.last_seq = last_seq
        self.subscribers: set[Subscriber] = set()

    def next_seq(self) -> int:
        self.last_seq += 1
        return self.last_seq


class _Pending:
    __slots__ = ("body", "channel", "delta", "frame")

    def __init__(self, channel: Channel, body: dict[str, Any], delta: bool) -> None:
        self.channel = channel
        self.body = body
        self.delta = delta  # a plain delta (agent + content only): encoded by the fast path
        self.frame = ""


class EventHub:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[_Pending] = []
        self._tails: dict[Channel, _Pending] = {}  # each channel's last queued event in this batch
        self._flush_handle: asyncio.Handle | None = None
        self.events_written = 0
        self.batches_written = 0

    # --- building events ----------------------------------------------------------------------------
    def emit(self, channel: Channel, type_: str, **fields: Any) -> dict[str, Any]:
        """Queue a timeline event; it is persisted and delivered at the end of this loop iteration."""
        if type_ == "delta":
            last = self._tails.get(channel)
            if last is not None and last.delta and last.body["agent"] == fields.get("agent") and len(fields) == 2:
                body = last.body
                body["content"] += fields["content"]
                return body
        body = {"type": type_, "session_id": channel.session_id, "seq": channel.next_seq(), "ts": time.time()}
        body.update(fields)
        plain_delta = type_ == "delta" and len(fields) == 2 and "agent" in fields and "content" in fields
        item = _Pending(channel, body, plain_delta)
        self._pending.append(item)
        self._tails[channel] = item
        self._schedule()
        return body

    def emit_now(self, channel: Channel, type_: str, **fields: Any) -> dict[str, Any]:
        """Emit and flush immediately (for events that acknowledge something)."""
        body = self.emit(channel, type_, **fields)
        self.flush()
        return body

    def prepare(self, channel: Channel, type_: str, **fields: Any) -> tuple[EventRow, str]:
        """Build an event row without queuing it: the caller persists it inside its own transaction
        (together with whatever the event acknowledges), then calls :meth:`publish`."""
        self.flush()  # keep seq order on disk
        seq, ts = channel.next_seq(), round(time.time(), 3)
        body: dict[str, Any] = {"type": type_, "session_id": channel.session_id, "seq": seq, "ts": ts}
        body.update(fields)
        frame = encode(body)
        return (channel.session_id, seq, type_, ts, frame), frame

    def publish(self, channel: Channel, frames: Iterable[str]) -> None:
        for frame in frames:
            _deliver(channel, frame)

    # --- flushing -------------------------------------------------------------------------------------
    def _schedule(self) -> None:
        if self._flush_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (sync tests): flush right away
                self.flush()
                return
            self._flush_handle = loop.call_soon(self.flush)

    def flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        pending = self._pending
        if not pending:
            return
        self._pending = []
        self._tails = {}
        rows: list[EventRow] = []
        for item in pending:
            body = item.body
            ts = body["ts"] = round(body["ts"], 3)
            if item.delta:
                item.frame = encode_delta(body["session_id"], body["seq"], ts, body["agent"], body["content"])
            else:
                item.frame = encode(body)
            rows.append((item.channel.session_id, body["seq"], body["type"], ts, item.frame))
        try:
            self._store.events.append(rows)
        except Exception:
            # Nothing is delivered that is not on disk. Losing a batch of stream events is bad but
            # survivable (clients resume from disk); crashing the loop is not.
            logger.exception("could not persist %d events; they are dropped", len(rows))
            return
        self.events_written += len(rows)
        self.batches_written += 1
        for item in pending:
            _deliver(item.channel, item.frame)


def _deliver(channel: Channel, frame: str) -> None:
    for subscriber in tuple(channel.subscribers):
        try:
            subscriber.deliver(frame)
        except Exception:
            logger.exception("subscriber failed; detaching it")
            channel.subscribers.discard(subscriber)
