"""Several server processes on one PostgreSQL: one owner per session, everything reaches everyone."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.cluster.conftest import Cluster
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import UNIT, WsClient

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LONG = " ".join(f"word{i}" for i in range(120))


def timeline(events: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(e["seq"], e["type"]) for e in events if e.get("seq") is not None]


async def start_session(cluster: Cluster, index: int, content: str) -> tuple[WsClient, str]:
    ws = await WsClient.connect(cluster.url(index))
    await ws.send(type="message", content=content)
    events = await ws.recv_until("user_message")
    return ws, events[-1]["session_id"]


async def follow(cluster: Cluster, index: int, sid: str) -> WsClient:
    ws = await WsClient.connect(cluster.url(index))
    await ws.send(type="resume", session_id=sid, last_seq=0)
    await ws.recv_until("resumed")
    return ws


async def test_clients_on_two_processes_see_identical_sequences(cluster: Cluster, fake_model: FakeModelServer) -> None:
    """A client on the owner and one on another process see the same seqs and types, live, for two turns."""
    fake_model.enqueue(Reply.of_text(LONG, delay=0.01), Reply.of_text("second answer"))
    a, sid = await start_session(cluster, 0, "first")
    b = await follow(cluster, 1, sid)
    await a.recv_until("done")
    await b.recv_until("done")
    await b.send(type="message", content="second", session_id=sid)  # sent to the follower
    await a.recv_until("done")
    await b.recv_until("done")
    seen_a = timeline(a.seen)
    seen_b = timeline(b.seen)  # the replay from 0, then live: in order, no duplicate
    assert seen_b == sorted(set(seen_b))
    assert seen_a == seen_b
    assert [s for s, _ in seen_b] == list(range(1, len(seen_b) + 1))
    assert [t for _, t in seen_b].count("done") == 2
    await a.close()
    await b.close()


async def test_stop_sent_to_a_non_owner_stops_the_turn(cluster: Cluster, fake_model: FakeModelServer) -> None:
    """stop on a follower process reaches the owner: the turn ends cancelled for both clients."""
    fake_model.enqueue(Reply.of_text(LONG * 5, delay=0.05))
    a, sid = await start_session(cluster, 0, "talk a lot")
    await a.recv_until("delta")
    b = await follow(cluster, 2, sid)
    await b.send(type="stop", session_id=sid)
    done_b = (await b.recv_until("done"))[-1]
    done_a = (await a.recv_until("done"))[-1]
    assert done_a["status"] == done_b["status"] == "cancelled"
    assert done_a["seq"] == done_b["seq"]
    await a.close()
    await b.close()


async def test_question_answered_on_another_process_reaches_the_owner(
    cluster: Cluster, fake_model: FakeModelServer
) -> None:
    """A question asked by the owner's team, answered by a client of another process, unblocks the tool."""
    fake_model.enqueue(
        Reply.of_tool_call("ask_user_question", {"question": "Which colour?", "options": ["red", "blue"]}),
        Reply.of_text("Blue it is."),
    )
    a, sid = await start_session(cluster, 0, "paint it")
    question = (await a.recv_until("question"))[-1]
    b = await follow(cluster, 1, sid)
    await b.send(type="answer", session_id=sid, question_id=question["question_id"], content="blue")
    events = await b.recv_until("done")
    closed = [e for e in events + b.seen if e["type"] == "question_closed"]
    assert closed and closed[0]["answer"] == "blue"
    assert [e for e in events if e["type"] == "response"][-1]["content"] == "Blue it is."
    assert "The user answered: blue" in fake_model.chat_requests[-1].text
    await a.close()
    await b.close()


async def test_kill_9_of_the_owner_mid_stream_is_taken_over(cluster: Cluster, fake_model: FakeModelServer) -> None:
    """The owner dies mid-stream: a survivor closes the turn, answers the next message, and the timeline has no gap."""
    fake_model.enqueue(Reply.of_text(LONG * 20, delay=0.05))
    a, sid = await start_session(cluster, 0, "stream forever")
    b = await follow(cluster, 1, sid)
    await b.recv_until("delta")
    await asyncio.to_thread(cluster.processes[0].kill)
    closed = await b.recv_until("done", timeout=4 * UNIT)
    assert closed[-1]["status"] == "error" and closed[-1].get("interrupted") is True
    assert any(e["type"] == "error" and e.get("code") == "interrupted" for e in closed)
    assert closed[-1]["instance"] in ("p1", "p2")
    fake_model.enqueue(Reply.of_text("back again"))
    await b.send(type="message", content="are you there?", session_id=sid)
    after = await b.recv_until("done")
    assert after[-1]["status"] == "ok"
    assert any(e["type"] == "response" and e["content"] == "back again" for e in after)
    c = await WsClient.connect(cluster.url(2))
    await c.send(type="resume", session_id=sid, last_seq=0)
    replay = await c.recv_until("resumed")
    seqs = [e["seq"] for e in replay if e.get("seq") is not None]
    assert seqs == list(range(1, len(seqs) + 1))
    assert seqs[-1] == after[-1]["seq"]
    await a.close()
    await b.close()
    await c.close()


async def test_reminders_fire_once_across_three_processes(cluster: Cluster) -> None:
    """20 reminders due while 3 processes (3 schedulers) run are each delivered exactly once."""
    ws = await WsClient.connect(cluster.url(1))
    await ws.send(type="new")
    sid = (await ws.recv_until("session"))[-1]["session_id"]
    for i in range(20):
        await ws.send(type="reminder_add", session_id=sid, when="in 2 seconds", message=f"r{i}")
        await ws.recv_until("tool_done")
    fired: list[dict[str, Any]] = []
    while len(fired) < 20:
        fired += [e for e in await ws.recv_until("reminder", timeout=4 * UNIT) if e["type"] == "reminder"]
    other = await WsClient.connect(cluster.url(2))
    await other.send(type="resume", session_id=sid, last_seq=0)
    replay = await other.recv_until("resumed")
    keys = [e["key"] for e in replay if e["type"] == "reminder"]
    assert sorted(e["message"] for e in fired) == sorted(f"r{i}" for i in range(20))
    assert len(keys) == len(set(keys)) == 20
    await ws.close()
    await other.close()


async def test_healthz_names_the_instance(cluster: Cluster) -> None:
    """Each process reports its own instance id and its lease bookkeeping in /healthz."""
    import httpx

    async with httpx.AsyncClient() as http:
        bodies = [(await http.get(f"http://127.0.0.1:{p.port}/healthz")).json() for p in cluster.processes]
    assert [b["instance"] for b in bodies] == ["p0", "p1", "p2"]
    assert all(b["cluster"]["shared"] and b["cluster"]["listener"]["connected"] for b in bodies)
