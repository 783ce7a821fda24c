"""The event hub: seq numbering, stored before delivery, delta coalescing, commit with work."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from backend.sessions.hub import Channel, EventHub, LeaseLostError
from backend.store import EventRow, Store, Tx


class Recorder:
    def __init__(self, log: list[tuple[str, int]]) -> None:
        self.frames: list[dict[str, Any]] = []
        self._log = log

    def deliver(self, frame: str) -> None:
        event = json.loads(frame)
        self.frames.append(event)
        self._log.append(("delivered", event["seq"]))


def spy_commits(store: Store) -> list[tuple[str, int]]:
    """A log of ("stored", seq) entries written when an event batch's transaction commits."""
    log: list[tuple[str, int]] = []
    real = store.events.append

    async def append(rows: list[EventRow], *, tx: Tx | None = None) -> None:
        await real(rows, tx=tx)
        assert tx is not None
        tx.after_commit(lambda: log.extend(("stored", row[1]) for row in rows))

    store.events.append = append  # type: ignore[method-assign]
    return log


def make(store: Store, session_id: str = "s1") -> tuple[EventHub, Channel, Recorder, list[tuple[str, int]]]:
    log = spy_commits(store)
    hub = EventHub(store)
    channel = Channel(session_id, 0)
    recorder = Recorder(log)
    channel.subscribers.add(recorder)
    return hub, channel, recorder, log


async def test_events_are_stored_before_delivery(store: Store) -> None:
    """No subscriber ever receives an event whose transaction has not committed."""
    hub, channel, rec, log = make(store)
    hub.emit(channel, "tool_call", id="c1", name="x", arguments={})
    hub.emit(channel, "tool_result", id="c1", name="x", content="ok", is_error=False)
    assert rec.frames == []  # nothing is sent from inside emit
    await hub.flush()
    assert [f["seq"] for f in rec.frames] == [1, 2]
    assert log == [("stored", 1), ("stored", 2), ("delivered", 1), ("delivered", 2)]
    assert (await store.sessions.get("s1")).last_seq == 2  # type: ignore[union-attr]


async def test_deltas_in_one_tick_are_coalesced(store: Store) -> None:
    """Consecutive deltas of one agent in one iteration become one event (one seq, one row)."""
    hub, channel, rec, _ = make(store)
    for piece in ["Hel", "lo", " wor", "ld"]:
        hub.emit(channel, "delta", agent="a", content=piece)
    hub.emit(channel, "delta", agent="b", content="!")
    await hub.flush()
    assert [(f["agent"], f["content"]) for f in rec.frames] == [("a", "Hello world"), ("b", "!")]
    assert [json.loads(b)["content"] for b in await store.events.after("s1", 0)] == ["Hello world", "!"]


async def test_deltas_after_a_write_keep_their_own_seq(store: Store) -> None:
    """Deltas emitted after the previous batch was written are separate events, in order."""
    hub, channel, rec, _ = make(store)
    for piece in ["a", "b", "c"]:
        hub.emit(channel, "delta", agent="x", content=piece)
        await hub.flush()
    assert [f["content"] for f in rec.frames] == ["a", "b", "c"]
    assert [f["seq"] for f in rec.frames] == [1, 2, 3]


async def test_commit_runs_work_in_the_same_transaction_and_keeps_order(store: Store) -> None:
    """commit() stores its event with its work, after everything emitted before it, and returns the work's result."""
    hub, channel, rec, log = make(store)
    hub.emit(channel, "delta", agent="a", content="x")

    async def work(tx: Tx, body: dict[str, Any]) -> int:
        return await store.state.add_inbox("s1", "user", "user", "hi", seq=body["seq"], tx=tx)

    inbox_id = await hub.commit(channel, "user_message", work, content="hi")
    assert [f["type"] for f in rec.frames] == ["delta", "user_message"]
    assert [f["seq"] for f in rec.frames] == [1, 2]
    assert [(i.id, i.seq) for i in await store.state.pending("s1")] == [(inbox_id, 2)]
    assert log.index(("stored", 2)) < log.index(("delivered", 2))


async def test_failed_work_stores_nothing_of_its_session_and_raises(store: Store) -> None:
    """A commit whose work fails rolls back its event too; the caller gets the error."""
    hub, channel, rec, _ = make(store)

    async def work(tx: Tx, body: dict[str, Any]) -> None:
        await tx.execute("INSERT INTO nonexistent_table VALUES (1)")

    with pytest.raises(Exception, match="nonexistent_table"):
        await hub.commit(channel, "user_message", work, content="hi")
    assert rec.frames == []
    assert await store.events.after("s1", 0) == []
    assert hub.batches_failed == 1


async def test_a_failing_session_does_not_take_other_sessions_events(store: Store) -> None:
    """One session's failed write in a shared batch: the other session's events are still stored and delivered."""
    hub, channel, _, _ = make(store)
    other = Channel("s2", 0)
    rec2 = Recorder([])
    other.subscribers.add(rec2)

    async def work(tx: Tx, body: dict[str, Any]) -> None:
        await tx.execute("INSERT INTO nonexistent_table VALUES (1)")

    hub.emit(other, "delta", agent="a", content="fine")
    failing = asyncio.ensure_future(hub.commit(channel, "user_message", work, content="hi"))
    with pytest.raises(Exception, match="nonexistent_table"):
        await failing
    await hub.flush()
    assert [f["content"] for f in rec2.frames] == ["fine"]
    assert len(await store.events.after("s2", 0)) == 1


async def test_failing_subscriber_is_detached(store: Store) -> None:
    """A subscriber that raises is removed; the others still get the event."""
    hub, channel, rec, _ = make(store)

    class Broken:
        def deliver(self, frame: str) -> None:
            raise RuntimeError("socket gone")

    broken = Broken()
    channel.subscribers.add(broken)
    await hub.emit_now(channel, "reset")
    assert broken not in channel.subscribers
    assert [f["type"] for f in rec.frames] == ["reset"]


async def test_alternating_sessions_still_coalesce(store: Store) -> None:
    """Deltas of two sessions interleaved in one iteration: one frame per session, in order."""
    hub, channel_a, rec_a, _ = make(store)
    channel_b = Channel("s2", 0)
    rec_b = Recorder([])
    channel_b.subscribers.add(rec_b)
    for piece in ["a", "b", "c"]:
        hub.emit(channel_a, "delta", agent="x", content=piece)
        hub.emit(channel_b, "delta", agent="y", content=piece.upper())
    await hub.flush()
    assert [f["content"] for f in rec_a.frames] == ["abc"]
    assert [f["content"] for f in rec_b.frames] == ["ABC"]


async def test_replay_hands_over_to_live_without_gap_or_duplicate(store: Store) -> None:
    """Events emitted while the history is being read reach the new subscriber exactly once, in order."""
    hub, channel, _, _ = make(store)
    for i in range(5):
        hub.emit(channel, "delta", agent="a", content=str(i))
        await hub.flush()
    replay_task = asyncio.ensure_future(hub.replay(channel, 2))
    hub.emit(channel, "response", content="late")  # races the history read
    replay = await replay_task
    late = Recorder([])
    frames = [json.loads(f) for f in replay.frames]
    replay.attach(late)
    await hub.flush()
    seqs = [f["seq"] for f in frames] + [f["seq"] for f in late.frames]
    assert seqs == [3, 4, 5, 6]


async def test_fenced_channel_writes_nothing_after_losing_its_lease(store: Store) -> None:
    """A channel whose lease epoch is no longer current has its events dropped and is told so."""
    epoch = await store.leases.claim("s1", "proc-a", 30.0)
    assert epoch == 1
    hub = EventHub(store, owner="proc-a")
    channel = Channel("s1", 0, epoch=epoch)
    lost: list[bool] = []
    channel.on_lost = lambda: lost.append(True)
    await hub.emit_now(channel, "response", content="mine")
    await store.leases.release("s1", "proc-a", 1)
    assert await store.leases.claim("s1", "proc-b", 30.0) == 2
    with pytest.raises(LeaseLostError):
        await hub.emit_now(channel, "response", content="stale")
    assert lost == [True]
    assert [json.loads(b)["content"] for b in await store.events.after("s1", 0)] == ["mine"]


async def test_replay_with_no_new_history_drops_frames_the_client_already_has(store: Store) -> None:
    """Resume at the latest seq while a follower's catch-up re-publishes older frames: nothing is sent twice."""
    hub, channel, _, _ = make(store)
    for i in range(3):
        hub.emit(channel, "delta", agent="a", content=str(i))
        await hub.flush()
    replay = await hub.replay(channel, 3)
    assert replay.frames == []
    hub.publish(channel, await store.events.after("s1", 1))  # seqs 2 and 3 again
    late = Recorder([])
    replay.attach(late)
    assert late.frames == []
