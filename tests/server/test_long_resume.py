"""Resuming a session whose stored timeline is larger than the send buffer (issue 12).

Before: the whole timeline went into the connection's outbox at once; past MAX_WRITE_BUFFER (8 MiB)
the client was closed with 1013 in the middle of the replay. Now the replay is paged with
backpressure, and the client gets every event.
"""

from __future__ import annotations

import pytest

from backend.server.connection import MAX_WRITE_BUFFER
from tests.conftest import RunningServer
from tests.support.client import UNIT, WsClient


async def test_a_timeline_larger_than_the_send_buffer_replays_completely(
    server: RunningServer, client: WsClient
) -> None:
    """~10 MiB of stored events replay in pages: all of them arrive, in order, and the socket stays open."""
    assert server.runtime is not None
    app = server.runtime.app
    sid = (await client.turn("hello"))[0]["session_id"]
    session = await app.sessions.get(sid)
    big = "x" * 9000
    count = MAX_WRITE_BUFFER // len(big) + 200
    for i in range(count):
        app.hub.emit(session.channel, "warning", message=f"{i}:{big}")
    await app.hub.flush()
    reader = await server.client()
    try:
        await reader.send(type="resume", session_id=sid, last_seq=0)
        events = await reader.recv_until("resumed", timeout=60 * UNIT)
        warnings = [e for e in events if e["type"] == "warning"]
        assert len(warnings) == count
        assert [int(w["message"].split(":")[0]) for w in warnings] == list(range(count))
        resumed = events[-1]
        assert resumed["replayed"] >= count
        await reader.send(type="ping")
        assert (await reader.recv_until("pong"))[-1]["type"] == "pong"
    finally:
        await reader.close()


async def test_a_failing_fold_between_turns_is_logged_and_counted(
    server: RunningServer, client: WsClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The background fold belongs to the session: its failure shows in the log and /healthz, never vanishes."""
    from backend.context.model_context import BudgetedChatCompletionContext

    async def broken(self: object) -> None:
        raise RuntimeError("fold exploded")

    monkeypatch.setattr(BudgetedChatCompletionContext, "compact", broken)
    assert server.runtime is not None
    app = server.runtime.app
    sid = (await client.turn("hello"))[0]["session_id"]
    session = app.sessions.live(sid)
    assert session is not None and session._compaction is not None
    await session._compaction
    assert app.sessions.services.counters.compaction_errors == 1
    assert "folding the context between turns failed" in caplog.text
    events = await client.turn("still fine?", session_id=sid)
    assert events[-1]["status"] == "ok"
