"""Delete and reset racing with other clients (issue 12): no zombie session, no duplicate seq.

Reproduced before the fix: a resume arriving while a delete awaited the sandbox removal reloaded the
row and left a zombie that wrote an event for the deleted id; two concurrent resets left an extra
session with its own seq counter that collided on UNIQUE(events.session_id, seq).
"""

from __future__ import annotations

import asyncio

from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import UNIT, WsClient, of_type


async def test_delete_during_a_turn_with_a_resume_racing_it(server: RunningServer, fake_model: FakeModelServer) -> None:
    """The resume sees unknown_session; nothing of the session is left in the store."""
    assert server.runtime is not None
    store = server.runtime.app.store
    a, b, c = [await server.client() for _ in range(3)]
    try:
        fake_model.enqueue(Reply.of_text("slow " * 200, delay=0.01))
        await a.send(type="message", content="talk slowly")
        sid = (await a.recv_until("delta", timeout=5 * UNIT))[0]["session_id"]
        await asyncio.gather(b.send(type="delete", session_id=sid), c.send(type="resume", session_id=sid, last_seq=0))
        deleted = await b.recv_until("deleted", timeout=5 * UNIT)
        assert of_type(deleted, "deleted")
        reply = await c.recv_until("error", timeout=5 * UNIT)
        assert reply[-1]["code"] == "unknown_session", reply
        await server.runtime.app.hub.flush()
        assert await store.sessions.get(sid) is None
        assert await store.events.after(sid, 0, None) == []
        events = await c.turn("still here?")
        assert of_type(events, "done")[-1]["status"] == "ok" and events[0]["session_id"] != sid
    finally:
        for client in (a, b, c):
            await client.close()


async def test_two_resets_from_two_sockets(server: RunningServer, client: WsClient) -> None:
    """Both resets complete, the session has one seq counter, and the next turn works."""
    sid = (await client.turn("hello"))[0]["session_id"]
    other = await server.client()
    try:
        await other.send(type="resume", session_id=sid, last_seq=0)
        await other.recv_until("session")
        await asyncio.gather(client.send(type="reset", session_id=sid), other.send(type="reset", session_id=sid))
        for ws in (client, other):
            got = await ws.recv_until("reset", timeout=5 * UNIT)
            got += await ws.recv_until("reset", timeout=5 * UNIT)  # both resets reach both watchers
            assert not of_type(got, "error"), got
        events = await client.turn("after the resets", session_id=sid)
        assert of_type(events, "done")[-1]["status"] == "ok"
        fresh = await server.client()
        await fresh.send(type="resume", session_id=sid, last_seq=0)
        replay = await fresh.recv_until("session", timeout=5 * UNIT)
        seqs = [e["seq"] for e in replay if isinstance(e.get("seq"), int)]
        assert seqs == sorted(set(seqs)), seqs
        await fresh.close()
    finally:
        await other.close()
