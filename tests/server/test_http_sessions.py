"""The native session API over HTTP and its SSE event stream, against a real server on port 0."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RunningServer, base_env
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import UNIT, of_type
from tests.support.process import ServerProcess
from tests.support.sse import SseEvent, SseReader

LONG_TEXT = " ".join(f"word{i}" for i in range(300))


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http, timeout=2 * UNIT) as client:
        yield client


async def new_session(http: httpx.AsyncClient, **body: Any) -> str:
    response = await http.post("/v1/sessions", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["session_id"])


async def history(http: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    response = await http.get(f"/v1/sessions/{sid}/history")
    assert response.status_code == 200
    return list(response.json()["events"])


async def test_session_lifecycle_over_http(http: httpx.AsyncClient) -> None:
    """Create, list, get, post a message (202 once committed), read its history, delete."""
    sid = await new_session(http, title="plans")
    assert [s["session_id"] for s in (await http.get("/v1/sessions")).json()["sessions"]] == [sid]
    state = (await http.get(f"/v1/sessions/{sid}")).json()
    assert state["session_id"] == sid and state["title"] == "plans" and state["running"] is False
    ack = await http.post(f"/v1/sessions/{sid}/messages", json={"content": "hello there"})
    assert ack.status_code == 202
    body = ack.json()
    assert body["seq"] >= 1 and body["message_id"]
    stored = await history(http, sid)
    assert any(e["type"] == "user_message" and e["message_id"] == body["message_id"] for e in stored)
    deleted = await http.delete(f"/v1/sessions/{sid}")
    assert deleted.status_code == 200
    assert (await http.get(f"/v1/sessions/{sid}")).status_code == 404
    assert (await http.get("/v1/sessions")).json()["sessions"] == []


async def test_event_stream_carries_the_websocket_frames(server: RunningServer, http: httpx.AsyncClient) -> None:
    """SSE events have id=seq, event=type and data equal to the stored frame; the turn ends with done."""
    sid = await new_session(http)
    async with http.stream("GET", f"/v1/sessions/{sid}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = SseReader(response)
        ack = await http.post(f"/v1/sessions/{sid}/messages", json={"content": "stream me"})
        assert ack.status_code == 202
        events = await reader.until("done")
    stored = (await history(http, sid))[: len(events)]
    assert [json.loads(e.data) for e in events] == stored
    assert [int(e.id or 0) for e in events] == [e["seq"] for e in stored]
    assert [e.event for e in events] == [e["type"] for e in stored]
    assert events[-1].json["status"] == "ok"


async def test_reconnect_with_last_event_id_gets_exactly_the_missed_events(http: httpx.AsyncClient) -> None:
    """Drop after the first turn, run a second turn, reconnect with Last-Event-ID: only the new events."""
    sid = await new_session(http)
    async with http.stream("GET", f"/v1/sessions/{sid}/events") as response:
        reader = SseReader(response)
        await http.post(f"/v1/sessions/{sid}/messages", json={"content": "first"})
        first = await reader.until("done")
    last_id = first[-1].id
    await http.post(f"/v1/sessions/{sid}/messages", json={"content": "second"})
    headers = {"Last-Event-ID": str(last_id)}
    async with http.stream("GET", f"/v1/sessions/{sid}/events", headers=headers) as response:
        missed = await SseReader(response).until("done")
    stored = await history(http, sid)
    assert [e.id for e in first + missed] == [str(e["seq"]) for e in stored[: len(first + missed)]]
    async with http.stream("GET", f"/v1/sessions/{sid}/events", params={"after": last_id}) as response:
        again = await SseReader(response).until("done")
    assert [e.id for e in again] == [e.id for e in missed]


async def test_joining_mid_turn_loses_and_repeats_nothing(http: httpx.AsyncClient, fake_model: FakeModelServer) -> None:
    """A stream opened while a reply is streaming replays from disk, then goes live, gap-free."""
    sid = await new_session(http)
    fake_model.enqueue(Reply.of_text(LONG_TEXT, delay=0.005))
    async with http.stream("GET", f"/v1/sessions/{sid}/events") as watcher:
        watch = SseReader(watcher)
        await http.post(f"/v1/sessions/{sid}/messages", json={"content": "a long one"})
        await watch.until("delta")
        async with http.stream("GET", f"/v1/sessions/{sid}/events", params={"after": 0}) as late:
            joined = await SseReader(late).until("done")
    stored = await history(http, sid)
    assert [e.id for e in joined] == [str(e["seq"]) for e in stored[: len(joined)]]
    assert "".join(e.json["content"] for e in joined if e.event == "delta") == LONG_TEXT


async def test_keepalive_comments_are_sent(
    server: RunningServer, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle stream gets keep-alive comments (every KEEPALIVE_SECONDS; shortened here)."""
    monkeypatch.setattr("backend.server.sessions_api.KEEPALIVE_SECONDS", 0.1)
    sid = await new_session(http)
    async with http.stream("GET", f"/v1/sessions/{sid}/events") as response:
        event = await SseReader(response).next(comments=True)
    assert event.comment


async def test_stop_and_answers_over_http(http: httpx.AsyncClient, fake_model: FakeModelServer) -> None:
    """stop cancels a running turn (done: cancelled); an unknown question id is a clear 400."""
    sid = await new_session(http)
    fake_model.enqueue(Reply.of_text(LONG_TEXT, delay=0.02))
    async with http.stream("GET", f"/v1/sessions/{sid}/events") as response:
        reader = SseReader(response)
        await http.post(f"/v1/sessions/{sid}/messages", json={"content": "long"})
        await reader.until("delta")
        stopped = await http.post(f"/v1/sessions/{sid}/stop")
        assert stopped.status_code == 200 and stopped.json()["stopping"] is True
        done = (await reader.until("done"))[-1]
    assert done.json["status"] == "cancelled"
    idle = await http.post(f"/v1/sessions/{sid}/stop")
    assert idle.json()["stopping"] is False
    answer = await http.post(f"/v1/sessions/{sid}/answers", json={"question_id": "q_nope", "content": "yes"})
    assert answer.status_code == 400 and answer.json()["code"] == "unknown_question"


async def test_hostile_requests_get_clear_4xx(http: httpx.AsyncClient) -> None:
    """Bad JSON, non-objects, wrong types, unknown ids, bad cursors: each a clear 4xx; the server is fine."""
    sid = await new_session(http)
    url = f"/v1/sessions/{sid}/messages"
    cases: list[tuple[int, Any]] = [
        (400, await http.post(url, content=b"{nope", headers={"Content-Type": "application/json"})),
        (400, await http.post(url, json=["not", "an", "object"])),
        (400, await http.post(url, json={"content": 42})),
        (400, await http.post(url, json={"content": ""})),
        (400, await http.post(url, content=b"[" * 5000 + b"]" * 5000, headers={"Content-Type": "application/json"})),
        (415, await http.post(url, content=b'{"content":"x"}')),
        (404, await http.post("/v1/sessions/doesnotexist/messages", json={"content": "x"})),
        (404, await http.get("/v1/sessions/" + "a" * 200)),
        (404, await http.get("/v1/sessions/..%2F..%2Fetc/history")),
        (400, await http.get(f"/v1/sessions/{sid}/history", params={"after": "-1"})),
        (400, await http.get(f"/v1/sessions/{sid}/events", params={"after": str(2**70)})),
        (400, await http.get(f"/v1/sessions/{sid}/events", headers={"Last-Event-ID": "abc"})),
        (405, await http.put("/v1/sessions", json={})),
    ]
    for expected, response in cases:
        assert response.status_code == expected, (response.request.url, response.text)
        assert "error" in response.json()
    assert (await http.get("/healthz")).status_code == 200


async def test_deleting_a_session_ends_its_streams(http: httpx.AsyncClient) -> None:
    """DELETE ends open event streams of that session instead of leaving them hanging."""
    sid = await new_session(http)
    async with http.stream("GET", f"/v1/sessions/{sid}/events") as response:
        reader = SseReader(response)
        assert (await http.delete(f"/v1/sessions/{sid}")).status_code == 200
        with pytest.raises(StopAsyncIteration):
            await reader.next()


@pytest.mark.slow
async def test_event_stream_survives_kill_9_and_restart(tmp_path: Path, fake_model: FakeModelServer) -> None:
    """kill -9 mid-turn, restart, reconnect with Last-Event-ID: the union of what was seen is the
    stored timeline, with no gap and no duplicate, and the next turn streams live."""
    env = base_env(tmp_path, fake_model)
    proc = await asyncio.to_thread(ServerProcess(env).start)
    seen: list[SseEvent] = []
    try:
        base = f"http://127.0.0.1:{proc.port}"
        async with httpx.AsyncClient(base_url=base, timeout=2 * UNIT) as http:
            sid = await new_session(http)
            fake_model.enqueue(Reply.of_text(LONG_TEXT, delay=0.02))
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, StopAsyncIteration)):
                async with http.stream("GET", f"/v1/sessions/{sid}/events") as response:
                    reader = SseReader(response)
                    await http.post(f"/v1/sessions/{sid}/messages", json={"content": "tell me everything"})
                    seen += await reader.until("delta")
                    seen += [await reader.next(), await reader.next()]
                    await asyncio.to_thread(proc.kill, signal.SIGKILL)
                    while True:
                        seen.append(await reader.next())
        assert seen and all(e.id is not None for e in seen)

        env["PORT"] = str(proc.port)
        proc = await asyncio.to_thread(ServerProcess(env).start)
        async with httpx.AsyncClient(base_url=base, timeout=2 * UNIT) as http:
            headers = {"Last-Event-ID": str(seen[-1].id)}
            async with http.stream("GET", f"/v1/sessions/{sid}/events", headers=headers) as response:
                reader = SseReader(response)
                after = await reader.until("done")  # the interrupted turn, closed on recovery
                assert of_type([e.json for e in after], "error")[-1]["code"] == "interrupted"
                await http.post(f"/v1/sessions/{sid}/messages", json={"content": "and now?"})
                after += await reader.until("done")
            stored = await history(http, sid)
        ids = [int(e.id or 0) for e in seen + after]
        assert ids == [e["seq"] for e in stored[: len(ids)]]
        assert ids == list(range(ids[0], ids[0] + len(ids)))
        assert after[-1].json["status"] == "ok"
    finally:
        proc.stop()


async def test_ten_mib_body_and_a_full_queue(
    server: RunningServer, http: httpx.AsyncClient, fake_model: FakeModelServer
) -> None:
    """A 10 MiB body is a 413 on the default limit; messages beyond MAX_QUEUED_MESSAGES are 429 busy."""
    sid = await new_session(http)
    big = b'{"content":"' + b"x" * (10 * 1024 * 1024) + b'"}'
    too_big = await http.post(f"/v1/sessions/{sid}/messages", content=big, headers={"Content-Type": "application/json"})
    assert too_big.status_code == 413 and too_big.json()["code"] == "too_large"
    fake_model.enqueue(Reply.of_text(LONG_TEXT, delay=0.05))
    async with http.stream("GET", f"/v1/sessions/{sid}/events") as response:
        reader = SseReader(response)
        await http.post(f"/v1/sessions/{sid}/messages", json={"content": "long"})
        await reader.until("delta")
        limit = server.settings.max_queued_messages
        statuses = [
            (await http.post(f"/v1/sessions/{sid}/messages", json={"content": f"q{i}"})).status_code
            for i in range(limit + 1)
        ]
        assert statuses == [202] * limit + [429]
        await http.post(f"/v1/sessions/{sid}/stop")
