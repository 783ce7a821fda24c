"""Turn starts go through the process's gate (TURN_START_CONCURRENCY): a real server, real WebSockets
and the scripted model behind the real AutoGen client. The test holds the gate's slots itself to
make turns wait, and watches the gate's queue instead of sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from backend.sessions.admission import TurnGate
from backend.settings import Settings
from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, Reply
from tests.sessions.test_admission import Queued
from tests.support.client import UNIT, WsClient, of_type, text_of


@pytest.fixture
async def gated(make_settings: Callable[..., Settings]) -> AsyncIterator[RunningServer]:
    """A server that lets one turn start at a time (and whose stop watchdog never fires in a test)."""
    running = await RunningServer(make_settings(TURN_START_CONCURRENCY="1", STOP_WATCHDOG_SECONDS="600")).start()
    try:
        yield running
    finally:
        await running.stop()


def gate_of(server: RunningServer) -> TurnGate:
    assert server.runtime is not None
    return server.runtime.app.sessions.services.turn_gate


def assert_contiguous(events: list[dict[str, Any]]) -> None:
    """Every stored event of the session reached the client, once, in order."""
    seqs = [e["seq"] for e in events if isinstance(e.get("seq"), int)]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs


async def test_a_turn_waits_for_a_slot_and_a_sessions_turns_keep_their_order(
    gated: RunningServer, fake_model: FakeModelServer
) -> None:
    """While the only slot is taken no model request goes out; once it frees, the session's two
    messages are answered in the order they were sent."""
    gate = gate_of(gated)
    queued = Queued(gate)
    held = await gate.acquire()
    client = await gated.client()
    try:
        await client.send(type="message", content="first")
        session_id = (await client.recv_until("session"))[-1]["session_id"]
        await queued.until(1)
        await client.send(type="message", content="second", session_id=session_id)
        await client.recv_until("queued")  # behind the first turn, in the session (not at the gate)
        assert fake_model.chat_requests == []
        held.release()
        first = await client.recv_until("done")
        second = await client.recv_until("done")
    finally:
        await client.close()
    assert [e["status"] for e in (first[-1], second[-1])] == ["ok", "ok"]
    assert (text_of(first), text_of(second)) == ("echo: first", "echo: second")
    assert [r.last_user for r in fake_model.chat_requests] == ["first", "second"]
    assert (gate.active, gate.waiting) == (0, 0)


async def test_a_streaming_turn_does_not_hold_its_slot(gated: RunningServer, fake_model: FakeModelServer) -> None:
    """The slot is given back when the turn's model request goes out: with one slot, a second
    session's turn starts and ends while the first one's reply is still streaming."""
    fake_model.enqueue(Reply.of_stall("still thinking", after_chunks=1))
    slow, quick = await gated.client(), await gated.client()
    try:
        await slow.send(type="message", content="slow")
        await slow.recv_until("delta")
        turn = await quick.turn("quick")
        assert turn[-1]["status"] == "ok" and text_of(turn) == "echo: quick"
        await slow.send(type="stop")
        assert (await slow.recv_until("done"))[-1]["status"] == "cancelled"
    finally:
        await slow.close()
        await quick.close()
    assert gate_of(gated).active == 0


async def test_stop_while_waiting_for_a_slot_ends_the_turn_cancelled(
    gated: RunningServer, fake_model: FakeModelServer
) -> None:
    """A stop that arrives while the turn waits for admission ends it with done: cancelled at once;
    the wait leaves the queue and the session's next turn runs normally."""
    gate = gate_of(gated)
    queued = Queued(gate)
    held = await gate.acquire()
    client = await gated.client()
    try:
        await client.send(type="message", content="never sent")
        await queued.until(1)
        await client.send(type="stop")
        done = await client.recv_until("done")
        assert done[-1]["status"] == "cancelled"
        assert (gate.active, gate.waiting) == (1, 0)
        held.release()
        again = await client.turn("again")
    finally:
        await client.close()
    assert again[-1]["status"] == "ok" and text_of(again) == "echo: again"
    assert [r.last_user for r in fake_model.chat_requests] == ["again"]
    assert (gate.active, gate.waiting) == (0, 0)


async def test_a_turn_that_fails_before_its_model_request_frees_its_slot(
    gated: RunningServer, fake_model: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A turn whose team cannot be built ends with error + done and gives its slot back: with one
    slot, the next turn could not start otherwise."""
    assert gated.runtime is not None
    factory = gated.runtime.app.sessions.services.factory
    build = factory.build

    def broken(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(factory, "build", build)  # only this once
        raise RuntimeError("the team could not be built")

    monkeypatch.setattr(factory, "build", broken)
    client = await gated.client()
    try:
        failed = await client.turn("first")
        assert failed[-1]["status"] == "error"
        assert "could not be built" in of_type(failed, "error")[0]["message"]
        assert gate_of(gated).active == 0
        ok = await client.turn("second")
    finally:
        await client.close()
    assert ok[-1]["status"] == "ok" and text_of(ok) == "echo: second"


async def test_deleting_a_session_whose_turn_waits_leaves_no_waiter(gated: RunningServer) -> None:
    """Closing a session (delete) while its turn waits for admission cancels the wait: nothing is
    left in the gate's queue and the slot goes to the next turn."""
    gate = gate_of(gated)
    queued = Queued(gate)
    held = await gate.acquire()
    doomed, other = await gated.client(), await gated.client()
    try:
        await doomed.send(type="message", content="to be deleted")
        session_id = (await doomed.recv_until("session"))[-1]["session_id"]
        await queued.until(1)
        await doomed.send(type="delete", session_id=session_id)
        await doomed.recv_until(lambda e: e["type"] == "deleted" or e["type"] == "error")
        assert gate.waiting == 0
        await other.send(type="message", content="next")
        await queued.until(1)
        held.release()
        turn = await other.recv_until("done")
    finally:
        await doomed.close()
        await other.close()
    assert turn[-1]["status"] == "ok" and text_of(turn) == "echo: next"
    assert (gate.active, gate.waiting) == (0, 0)


async def test_many_first_turns_at_once_all_complete_with_every_event(
    make_settings: Callable[..., Settings], fake_model: FakeModelServer
) -> None:
    """Forty new sessions send their first message together behind a gate of two: every turn is
    admitted in turn and ends ok, and every client gets its whole answer and every event, in order."""
    n = 40
    running = await RunningServer(make_settings(TURN_START_CONCURRENCY="2")).start()
    gate = gate_of(running)
    queued = Queued(gate)
    held = [await gate.acquire(), await gate.acquire()]
    clients: list[WsClient] = []
    try:
        clients = list(await asyncio.gather(*(running.client() for _ in range(n))))
        await asyncio.gather(*(c.send(type="message", content=f"hello {i}") for i, c in enumerate(clients)))
        await queued.until(n)  # every first turn is waiting at the gate
        assert fake_model.chat_requests == []
        for ticket in held:
            ticket.release()
        turns = await asyncio.gather(*(c.recv_until("done", timeout=6 * UNIT) for c in clients))
    finally:
        await asyncio.gather(*(c.close() for c in clients))
        await running.stop()
    for i, events in enumerate(turns):
        assert events[-1]["status"] == "ok", events[-1]
        assert text_of(events) == f"echo: hello {i}"
        assert len(of_type(events, "user_message")) == 1 and len(of_type(events, "response")) == 1
        assert_contiguous(events)
    assert sorted(r.last_user for r in fake_model.chat_requests) == sorted(f"hello {i}" for i in range(n))
    assert (gate.admitted, gate.waited, gate.active, gate.waiting) == (n + 2, n, 0, 0)
