"""The event hub: seq numbering, persistence before delivery, delta coalescing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from backend.sessions.hub import Channel, EventHub
from backend.store import Store


class Recorder:
    def __init__(self, store: Store, session_id: str) -> None:
        self.frames: list[dict[str, object]] = []
        self.on_disk_when_delivered: list[bool] = []
        self._store = store
        self._sid = session_id

    def deliver(self, frame: str) -> None:
        event = json.loads(frame)
        self.frames.append(event)
        on_disk = any(json.loads(b)["seq"] == event["seq"] for b in self._store.events.after(self._sid, 0))
        self.on_disk_when_delivered.append(on_disk)


def make(tmp_path: Path) -> tuple[Store, EventHub, Channel, Recorder]:
    store = Store(tmp_path / "t.db")
    store.open()
    store.sessions.create("s1")
    hub = EventHub(store)
    channel = Channel("s1", 0)
    recorder = Recorder(store, "s1")
    channel.subscribers.add(recorder)
    return store, hub, channel, recorder


async def test_events_are_on_disk_before_delivery(tmp_path: Path) -> None:
    """No subscriber ever receives an event that is not yet committed."""
    store, hub, channel, rec = make(tmp_path)
    hub.emit(channel, "tool_call", id="c1", name="x", arguments={})
    hub.emit(channel, "tool_result", id="c1", name="x", content="ok", is_error=False)
    assert rec.frames == []  # nothing is sent before the end of this loop iteration
    await asyncio.sleep(0)
    assert [f["seq"] for f in rec.frames] == [1, 2]
    assert all(rec.on_disk_when_delivered)
    assert store.sessions.get("s1").last_seq == 2  # type: ignore[union-attr]


async def test_deltas_in_one_tick_are_coalesced(tmp_path: Path) -> None:
    """Consecutive deltas of one agent in one iteration become one event (one seq, one row)."""
    store, hub, channel, rec = make(tmp_path)
    for piece in ["Hel", "lo", " wor", "ld"]:
        hub.emit(channel, "delta", agent="a", content=piece)
    hub.emit(channel, "delta", agent="b", content="!")
    await asyncio.sleep(0)
    assert [(f["agent"], f["content"]) for f in rec.frames] == [("a", "Hello world"), ("b", "!")]
    assert [json.loads(b)["content"] for b in store.events.after("s1", 0)] == ["Hello world", "!"]


async def test_deltas_in_separate_ticks_keep_their_own_seq(tmp_path: Path) -> None:
    """Deltas that arrive in different iterations are separate events, in order."""
    _, hub, channel, rec = make(tmp_path)
    for piece in ["a", "b", "c"]:
        hub.emit(channel, "delta", agent="x", content=piece)
        await asyncio.sleep(0)
    assert [f["content"] for f in rec.frames] == ["a", "b", "c"]
    assert [f["seq"] for f in rec.frames] == [1, 2, 3]


async def test_prepare_and_publish_keep_order(tmp_path: Path) -> None:
    """An event prepared for the caller's own transaction comes after everything emitted before it."""
    store, hub, channel, rec = make(tmp_path)
    hub.emit(channel, "delta", agent="a", content="x")
    row, frame = hub.prepare(channel, "done", status="ok")
    store.events.append([row])
    hub.publish(channel, [frame])
    assert [f["type"] for f in rec.frames] == ["delta", "done"]
    assert [f["seq"] for f in rec.frames] == [1, 2]


async def test_failing_subscriber_is_detached(tmp_path: Path) -> None:
    """A subscriber that raises is removed; the others still get the event."""
    _, hub, channel, rec = make(tmp_path)

    class Broken:
        def deliver(self, frame: str) -> None:
            raise RuntimeError("socket gone")

    broken = Broken()
    channel.subscribers.add(broken)
    hub.emit_now(channel, "reset")
    assert broken not in channel.subscribers
    assert [f["type"] for f in rec.frames] == ["reset"]


async def test_alternating_sessions_still_coalesce(tmp_path: Path) -> None:
    """Deltas of two sessions interleaved in one iteration: one frame per session, in order."""
    store, hub, channel_a, rec_a = make(tmp_path)
    store.sessions.create("s3")
    channel_b = Channel("s3", 0)
    rec_b = Recorder(store, "s3")
    channel_b.subscribers.add(rec_b)
    for piece in ["a", "b", "c"]:
        hub.emit(channel_a, "delta", agent="x", content=piece)
        hub.emit(channel_b, "delta", agent="y", content=piece.upper())
    await asyncio.sleep(0)
    assert [f["content"] for f in rec_a.frames] == ["abc"]
    assert [f["content"] for f in rec_b.frames] == ["ABC"]
