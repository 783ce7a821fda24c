"""The event hub: numbers, persists and fans out every timeline event, in batches.

``emit`` assigns the session's next ``seq`` and queues the event. One writer task takes
everything queued so far, encodes it, writes it in one transaction and only then hands each
frame to the session's subscribers, so a client never sees an event that is not stored. While a
batch is being written the next one accumulates (at least one loop iteration's worth), so under
load there is one transaction per batch, never one per token. Consecutive deltas of one agent of
one session queued in the same batch are coalesced into one event (one seq, one row, one frame),
even when other sessions' events were queued in between; a client that resumes gets exactly
what live clients got.

``commit`` queues an event together with work to run in the same transaction (the inbox row a
``user_message`` acknowledges, the team state a ``done`` closes) and returns once both are
stored and the event is delivered. Every write goes through this one writer, so events reach
the store, and clients, in ``seq`` order.

Fencing: a channel that holds a lease (``channel.epoch``) has its events written only while that
lease is still the current one (checked inside the batch's transaction); a channel that lost it
is told through ``on_lost`` and its events are dropped.

An optional ``observer`` (``sessions/metrics.py``) sees every queued event and every batch write.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..protocol import encode, encode_delta
from ..store import EventRow, Store, Tx

logger = logging.getLogger(__name__)

Work = Callable[[Tx, dict[str, Any]], Awaitable[Any]]


class Subscriber(Protocol):
    """A connection watching a session. ``deliver`` must not block."""

    def deliver(self, frame: str) -> None: ...


class Observer(Protocol):
    """Told about every event the hub queues or delivers unstored, and every batch it writes
    (``sessions/metrics.py``). Called on the token path: it must be cheap and must not block."""

    def event(self, body: dict[str, Any]) -> None: ...

    def batch_written(self, seconds: float, events: int, ok: bool) -> None: ...


class LeaseLostError(Exception):
    """The session's lease passed to another process: this process may not write its events."""


class Channel:
    """The per-session part of the hub: sequence counter, lease epoch and subscribers."""

    __slots__ = ("delivered_seq", "epoch", "last_seq", "on_lost", "session_id", "subscribers")

    def __init__(self, session_id: str, last_seq: int, epoch: int | None = None) -> None:
        self.session_id = session_id
        self.last_seq = last_seq
        #: The last seq handed to subscribers (from this process's writes or another's).
        self.delivered_seq = last_seq
        #: The lease epoch this process writes under (None: not fenced).
        self.epoch = epoch
        self.on_lost: Callable[[], None] | None = None
        self.subscribers: set[Subscriber] = set()

    def next_seq(self) -> int:
        self.last_seq += 1
        return self.last_seq


class _Pending:
    __slots__ = ("body", "channel", "delta", "frame", "future", "result", "work")

    def __init__(self, channel: Channel, body: dict[str, Any], delta: bool) -> None:
        self.channel = channel
        self.body = body
        self.delta = delta  # a plain delta (agent + content only): encoded by the fast path
        self.frame = ""
        self.work: Work | None = None
        self.future: asyncio.Future[Any] | None = None
        self.result: Any = None


class EventHub:
    def __init__(self, store: Store, *, owner: str = "local", observer: Observer | None = None) -> None:
        self._store = store
        self.owner = owner
        self.observer = observer
        self._pending: list[_Pending] = []
        self._tails: dict[Channel, _Pending] = {}  # each channel's last queued event in this batch
        self._writer: asyncio.Task[None] | None = None
        self._next_done: asyncio.Future[None] | None = None  # resolves when the queued batch is out
        self._current_done: asyncio.Future[None] | None = None  # ... the batch being written
        self.events_written = 0
        self.batches_written = 0
        self.batches_failed = 0
        self.events_unstored = 0
        self.events_fenced = 0

    # --- building events ----------------------------------------------------------------------------
    def emit(self, channel: Channel, type_: str, **fields: Any) -> dict[str, Any]:
        """Queue a timeline event; it is stored and delivered by the next batch."""
        if type_ == "delta":
            last = self._tails.get(channel)
            if last is not None and last.delta and last.body["agent"] == fields.get("agent") and len(fields) == 2:
                body = last.body
                body["content"] += fields["content"]
                return body
        return self._queue(channel, type_, fields).body

    async def commit(self, channel: Channel, type_: str, work: Work | None = None, **fields: Any) -> Any:
        """Queue an event plus ``work(tx, body)`` for the same transaction; wait until both are
        stored and the event delivered. Returns what ``work`` returned (or the body); raises what
        the write raised (nothing of it is stored then)."""
        item = self._queue(channel, type_, fields)
        item.work = work
        item.future = asyncio.get_running_loop().create_future()
        return await item.future

    async def emit_now(self, channel: Channel, type_: str, **fields: Any) -> dict[str, Any]:
        """Emit and wait until it is stored and delivered (events that acknowledge something)."""
        body: dict[str, Any] = await self.commit(channel, type_, None, **fields)
        return body

    def _queue(self, channel: Channel, type_: str, fields: dict[str, Any]) -> _Pending:
        body = {"type": type_, "session_id": channel.session_id, "seq": channel.next_seq(), "ts": time.time()}
        body.update(fields)
        if self.observer is not None:
            self.observer.event(body)
        plain_delta = type_ == "delta" and len(fields) == 2 and "agent" in fields and "content" in fields
        item = _Pending(channel, body, plain_delta)
        self._pending.append(item)
        self._tails[channel] = item
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain(), name="event-hub")
        return item

    async def replay(self, channel: Channel, after_seq: int, *, limit: int | None = None) -> Replay:
        """Stored frames after ``after_seq``, and a hand-over to live delivery with no gap and no
        duplicate: frames delivered while the store is read are buffered and passed on only if
        they are newer than what was read."""
        buffer = Replay(channel, after_seq)
        channel.subscribers.add(buffer)
        try:
            await self.flush()
            buffer.frames = await self._store.events.after(channel.session_id, after_seq, limit)
        except BaseException:
            channel.subscribers.discard(buffer)
            raise
        return buffer

    def deliver_unstored(self, channel: Channel, type_: str, **fields: Any) -> dict[str, Any]:
        """Deliver an event to this process's attached clients WITHOUT storing it (``seq: null``,
        ``stored: false``). The one exception to "on disk before delivery" (docs/protocol.md): used
        when the store refuses writes, so that a turn still ends with ``error`` + ``done``."""
        body = {"type": type_, "session_id": channel.session_id, "seq": None, "ts": round(time.time(), 3)}
        body.update(fields, stored=False)
        if self.observer is not None:
            self.observer.event(body)
        _deliver(channel, encode(body))
        self.events_unstored += 1
        return body

    async def replay_more(self, replay: Replay, limit: int) -> list[str]:
        """The next page of stored history after what ``replay`` holds (live frames stay buffered)."""
        last = frame_seq(replay.frames[-1]) if replay.frames else replay.after_seq
        replay.frames = await self._store.events.after(replay.channel.session_id, last, limit)
        return replay.frames

    def publish(self, channel: Channel, frames: list[str]) -> None:
        """Hand frames stored by someone else (another process) to this channel's subscribers."""
        for frame in frames:
            _deliver(channel, frame)
        if frames:
            channel.delivered_seq = frame_seq(frames[-1])

    # --- writing --------------------------------------------------------------------------------------
    async def flush(self) -> None:
        """Wait until everything emitted so far is stored and delivered."""
        if self._pending:
            if self._next_done is None:
                self._next_done = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._next_done)
        elif self._current_done is not None and not self._current_done.done():
            await asyncio.shield(self._current_done)

    async def close(self) -> None:
        await self.flush()

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending, self._tails = self._pending, [], {}
                done = self._next_done or asyncio.get_running_loop().create_future()
                self._next_done, self._current_done = None, done
                try:
                    await self._write(batch)
                finally:
                    done.set_result(None)
        finally:
            self._writer = None

    async def _write(self, batch: list[_Pending]) -> None:
        rows: list[EventRow] = []
        for item in batch:
            body = item.body
            ts = body["ts"] = round(body["ts"], 3)
            if item.delta:
                item.frame = encode_delta(body["session_id"], body["seq"], ts, body["agent"], body["content"])
            else:
                item.frame = encode(body)
            rows.append((item.channel.session_id, body["seq"], body["type"], ts, item.frame))
        started = time.perf_counter()
        try:
            fenced = await self._store_batch(batch, rows)
        except Exception as exc:
            if len({item.channel for item in batch}) > 1:
                # One session's bad write must not take the other sessions' events with it.
                for group in _by_channel(batch):
                    await self._write(group)
                return
            self.batches_failed += 1
            if self.observer is not None:
                self.observer.batch_written(time.perf_counter() - started, 0, False)
            # Nothing is delivered that is not stored. Losing a batch of stream events is bad but
            # survivable (clients resume from the store); crashing the writer is not.
            logger.error("could not store %d events: %s", len(rows), exc, exc_info=exc)
            for item in batch:
                if item.future is not None and not item.future.done():
                    item.future.set_exception(exc)
            return
        self.events_written += len(rows)
        self.batches_written += 1
        if self.observer is not None:
            self.observer.batch_written(time.perf_counter() - started, len(rows), True)
        for item in batch:
            if item.channel.session_id in fenced:
                if item.future is not None and not item.future.done():
                    item.future.set_exception(LeaseLostError(item.channel.session_id))
                continue
            item.channel.delivered_seq = item.body["seq"]
            _deliver(item.channel, item.frame)
            if item.future is not None and not item.future.done():
                item.future.set_result(item.result if item.work else item.body)
        for channel in {item.channel for item in batch if item.channel.session_id in fenced}:
            self.events_fenced += 1
            if channel.on_lost is not None:
                channel.on_lost()

    async def _store_batch(self, batch: list[_Pending], rows: list[EventRow]) -> set[str]:
        """One transaction: fence check, the events, each item's work, the announcement."""
        held = {(i.channel.session_id, i.channel.epoch) for i in batch if i.channel.epoch is not None}
        async with self._store.db.transaction() as tx:
            fenced: set[str] = set()
            if held:
                fenced = await self._store.leases.fence(tx, [(s, e) for s, e in held if e is not None], self.owner)
                if fenced:
                    rows = [row for row in rows if row[0] not in fenced]
            await self._store.events.append(rows, tx=tx)
            for item in batch:
                if item.work is not None and item.channel.session_id not in fenced:
                    item.result = await item.work(tx, item.body)
            if rows and self._store.shared:  # wake the other processes' followers (same transaction)
                await self._store.announce_events(tx, {row[0]: row[1] for row in rows})
        return fenced


class Replay:
    """History read from the store plus the live frames that arrived meanwhile (see ``replay``)."""

    def __init__(self, channel: Channel, after_seq: int) -> None:
        self.channel = channel
        self.after_seq = after_seq
        self.frames: list[str] = []
        self._live: list[str] = []

    def deliver(self, frame: str) -> None:
        self._live.append(frame)

    def attach(self, subscriber: Subscriber) -> None:
        """Pass on the buffered frames newer than the history, then deliver live to ``subscriber``."""
        channel = self.channel
        # what the subscriber has after this: the history, or (no history) what it said it had
        last = frame_seq(self.frames[-1]) if self.frames else self.after_seq
        channel.subscribers.discard(self)
        if self.frames and last > channel.last_seq:
            # A follower channel (another process writes it) that is behind the history just read:
            # bring its other watchers up to the same point, and continue from there.
            newer = [frame for frame in self.frames if frame_seq(frame) > channel.last_seq]
            for frame in newer:
                _deliver(channel, frame)
            channel.last_seq = channel.delivered_seq = last
        for frame in self._live:
            if frame_seq(frame) > last:
                subscriber.deliver(frame)
        self._live = []
        channel.subscribers.add(subscriber)

    def detach(self) -> None:
        self.channel.subscribers.discard(self)


_SEQ = re.compile(r'"seq":\s*(\d+)')


def frame_seq(frame: str) -> int:
    """The ``seq`` of an encoded event (the first ``"seq"`` key: it precedes every payload field)."""
    match = _SEQ.search(frame)
    return int(match.group(1)) if match else -1


def _by_channel(batch: list[_Pending]) -> list[list[_Pending]]:
    groups: dict[Channel, list[_Pending]] = {}
    for item in batch:
        groups.setdefault(item.channel, []).append(item)
    return list(groups.values())


def _deliver(channel: Channel, frame: str) -> None:
    for subscriber in tuple(channel.subscribers):
        try:
            subscriber.deliver(frame)
        except Exception:
            logger.exception("subscriber failed; detaching it")
            channel.subscribers.discard(subscriber)
