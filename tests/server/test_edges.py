"""Bad input and failing models: clear errors, nothing lost, every other session keeps working."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from backend.settings import Settings
from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import UNIT, WsClient, of_type

TOKEN = "s3cret-token-0123456789"
LONG_TEXT = " ".join(f"word{i}" for i in range(500))


async def test_malformed_frames_get_errors_and_the_socket_survives(server: RunningServer, client: WsClient) -> None:
    """Broken JSON, unknown types and bad fields each get one error; the next message still works."""
    await client.send_raw('{"type": "message", "content": ')
    assert (await client.recv())["code"] == "bad_json"
    await client.send(type="dance")
    assert (await client.recv())["code"] == "unknown_type"
    await client.send(type="resume", session_id="nope!", last_seq=0)
    assert (await client.recv())["code"] == "bad_request"
    await client.send(type="resume", session_id="doesnotexist", last_seq=0)
    assert (await client.recv())["code"] == "unknown_session"
    await client.send_raw(b"\x00binary")
    assert (await client.recv())["code"] == "bad_frame"
    events = await client.turn("still here?")
    assert of_type(events, "done")[0]["status"] == "ok"


async def test_oversized_frame_closes_with_1009(server: RunningServer, client: WsClient) -> None:
    """A 1 MiB frame closes the connection with 1009 (message too big); the server keeps serving."""
    await client.send_raw("x" * (1024 * 1024))
    with pytest.raises(ConnectionClosed) as info:
        await client.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    other = await server.client()
    try:
        assert of_type(await other.turn("after the big one"), "done")[0]["status"] == "ok"
    finally:
        await other.close()


async def test_foreign_origin_is_refused_with_403(server: RunningServer) -> None:
    """A browser page from another origin cannot open the socket."""
    with pytest.raises(InvalidStatus) as info:
        await WsClient.connect(server.url, origin="https://evil.example")  # type: ignore[arg-type]
    assert info.value.response.status_code == 403


async def test_same_origin_page_is_allowed(server: RunningServer) -> None:
    """The page served by the server itself may connect."""
    ws = await WsClient.connect(server.url, origin=f"http://127.0.0.1:{server.settings.port}")  # type: ignore[arg-type]
    await ws.send(type="ping")
    assert (await ws.recv())["type"] == "pong"
    await ws.close()


async def test_rate_limit_errors_then_closes(make_settings: Callable[..., Settings]) -> None:
    """Too many frames get rate_limited errors, and persistent abuse closes with 1008."""
    running = await RunningServer(
        make_settings(RATE_LIMIT_MESSAGES="5", RATE_LIMIT_WINDOW="60", RATE_LIMIT_STRIKES="3")
    ).start()
    ws = await running.client()
    try:
        for _ in range(5):
            await ws.send(type="ping")
            assert (await ws.recv())["type"] == "pong"
        await ws.send(type="ping")
        assert (await ws.recv())["code"] == "rate_limited"
        await ws.send(type="ping")
        await ws.send(type="ping")
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    finally:
        await ws.close()
        await running.stop()


async def test_auth_token_query_or_first_message(make_settings: Callable[..., Settings]) -> None:
    """With AUTH_TOKEN: a wrong ?token= is a 401, the right one works, or an auth frame first."""
    running = await RunningServer(make_settings(AUTH_TOKEN=TOKEN)).start()
    try:
        with pytest.raises(InvalidStatus) as info:
            await WsClient.connect(running.url + "?token=wrong")
        assert info.value.response.status_code == 401
        ok = await WsClient.connect(running.url + f"?token={TOKEN}")
        await ok.send(type="ping")
        assert (await ok.recv())["type"] == "pong"
        await ok.close()
        late = await running.client()
        await late.send(type="auth", token=TOKEN)
        assert (await late.recv())["type"] == "auth"
        await late.send(type="ping")
        assert (await late.recv())["type"] == "pong"
        await late.close()
        rude = await running.client()
        await rude.send(type="ping")
        assert (await rude.recv())["code"] == "unauthorized"
        with pytest.raises(ConnectionClosed) as closed:
            await rude.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    finally:
        await running.stop()


async def test_stop_closes_the_upstream_stream_and_the_next_turn_works(
    server: RunningServer, client: WsClient, fake_model: FakeModelServer
) -> None:
    """stop during a slow 500-token stream: cancelled within 1 s, upstream closed, next turn fine."""
    fake_model.enqueue(Reply.of_text(LONG_TEXT, delay=0.02))
    await client.send(type="message", content="tell me a long story")
    await client.recv_until("delta")
    sid = client.seen[0]["session_id"]
    await client.send(type="stop", session_id=sid)
    done = (await client.recv_until("done"))[-1]
    assert done["status"] == "cancelled"
    assert len("".join(e["content"] for e in client.seen if e["type"] == "delta")) < len(LONG_TEXT), "cut mid-stream"
    for _ in range(50):
        if fake_model.chat_requests[-1].disconnected:
            break
        await asyncio.sleep(0.02)
    stream = fake_model.chat_requests[-1]
    assert stream.disconnected and not stream.finished
    events = await client.turn("and now something short", session_id=sid)
    assert of_type(events, "done")[0]["status"] == "ok"
    assert of_type(events, "response")[0]["content"] == "echo: and now something short"


async def test_stop_with_nothing_running_says_so(server: RunningServer, client: WsClient) -> None:
    """stop on an idle session is answered with stopped{running:false}."""
    sid = (await client.turn("hi"))[0]["session_id"]
    await client.send(type="stop", session_id=sid)
    assert (await client.recv())["type"] == "stopped"


@pytest.mark.parametrize(
    ("reply", "needle"),
    [
        (Reply.of_error(500, "upstream exploded"), "500"),
        (Reply.of_error(429, "slow down"), "429"),
        (Reply.of_garbage(), "invalid SSE data"),
        (Reply.of_empty(), "without an answer"),
    ],
)
async def test_model_failures_become_clear_errors(
    server: RunningServer, client: WsClient, fake_model: FakeModelServer, reply: Reply, needle: str
) -> None:
    """HTTP 4xx/5xx or invalid SSE: an error event, done{status:error}, and the session still works."""
    fake_model.enqueue(reply)
    events = await client.turn("trigger a failure")
    error = of_type(events, "error")[0]
    assert error["code"] == "model_error" and needle in error["message"]
    assert of_type(events, "done")[0]["status"] == "error"
    sid = events[0]["session_id"]
    again = await client.turn("try again", session_id=sid)
    assert of_type(again, "done")[0]["status"] == "ok"
    # the failed turn's message is not lost: it reaches the model as context
    assert "trigger a failure" in fake_model.chat_requests[-1].text


async def test_model_down_is_reported(make_settings: Callable[..., Settings]) -> None:
    """An endpoint that refuses connections gives model_error quickly, and /healthz says unreachable."""
    running = await RunningServer(make_settings(LLM_BASE_URL="http://127.0.0.1:9/v1")).start()
    ws = await running.client()
    try:
        events = await ws.turn("anyone there?")
        error = of_type(events, "error")[0]
        # (the SDK's aiohttp transport raises APITimeoutError for a refused connection: not a timeout)
        assert error["code"] == "model_error" and "unreachable" in error["message"]
        assert of_type(events, "done")[0]["status"] == "error"
        async with httpx.AsyncClient() as http:
            health = (await http.get(running.http + "/healthz")).json()
        assert health["model"]["reachable"] is False
    finally:
        await ws.close()
        await running.stop()


async def test_stalled_model_times_out(make_settings: Callable[..., Settings], fake_model: FakeModelServer) -> None:
    """A model that stops sending mid-stream is given up on after LLM_TIMEOUT, with an error."""
    running = await RunningServer(make_settings(LLM_TIMEOUT="1")).start()
    fake_model.enqueue(Reply.of_stall("partial answer", after_chunks=2))
    ws = await running.client()
    try:
        events = await ws.turn("stall please", timeout=4 * UNIT)
        assert of_type(events, "error")[0]["code"] == "model_timeout"
        assert of_type(events, "done")[0]["status"] == "error"
    finally:
        await ws.close()
        await running.stop()


async def test_a_failing_session_does_not_disturb_another(server: RunningServer, fake_model: FakeModelServer) -> None:
    """One session's model failure leaves a concurrent session's turn untouched."""

    def responder(request):  # type: ignore[no-untyped-def]
        if "boom" in request.last_user:
            return Reply.of_error(500, "boom")
        return Reply.of_text(f"echo: {request.last_user}", delay=0.01)

    fake_model.responder = responder
    a, b = await server.client(), await server.client()
    try:
        bad, good = await asyncio.gather(a.turn("boom"), b.turn("fine"))
        assert of_type(bad, "done")[0]["status"] == "error"
        assert of_type(good, "done")[0]["status"] == "ok"
    finally:
        await a.close()
        await b.close()


async def test_http_endpoints(server: RunningServer) -> None:
    """/healthz, /v1/skills and the page are served on the WebSocket port."""
    async with httpx.AsyncClient() as http:
        health = await http.get(server.http + "/healthz")
        assert health.status_code == 200
        data = health.json()
        assert data["status"] == "ok" and data["model"]["reachable"] is True
        assert data["sessions"]["active"] == 0 and data["team"] == "solo"
        assert data["loop_lag"]["samples"] >= 0 and data["events"]["written"] >= 0
        listing = (await http.get(server.http + "/v1/skills")).json()
        assert any(t["name"] == "run_terminal_command" for t in listing["tools"])
        assert 0 < listing["fixed_prompt_tokens"]["assistant"] <= 1_500  # solo's budget (docs/context.md)
        missing = await http.get(server.http + "/../../etc/passwd")
        assert missing.status_code == 404
        page = await http.get(server.http + "/")
        assert page.status_code in (200, 404)  # 200 once the frontend is built
        if page.status_code == 200:
            assert "Content-Security-Policy" in page.headers


async def test_queue_has_a_limit(make_settings: Callable[..., Settings], fake_model: FakeModelServer) -> None:
    """Beyond MAX_QUEUED_MESSAGES, messages are refused with busy (and not acknowledged)."""
    running = await RunningServer(make_settings(MAX_QUEUED_MESSAGES="1")).start()
    fake_model.enqueue(Reply.of_text(LONG_TEXT, delay=0.02))
    ws = await running.client()
    try:
        await ws.send(type="message", content="long")
        await ws.recv_until("delta")
        sid = ws.seen[0]["session_id"]
        await ws.send(type="message", content="queued one", session_id=sid)
        await ws.send(type="message", content="one too many", session_id=sid)
        await ws.recv_until(lambda e: e["type"] == "error" and e["code"] == "busy")
        acked = [e["content"] for e in of_type(ws.seen, "user_message")]
        assert "one too many" not in acked and "queued one" in acked
        assert of_type(ws.seen, "queued")
        await ws.send(type="stop", session_id=sid)
    finally:
        await ws.close()
        await running.stop()


def test_json_frames_stay_small() -> None:
    """Sanity: an event frame is compact JSON (no pretty printing on the wire)."""
    from backend.protocol import encode, event

    assert "\n" not in encode(event("delta", "s", 1, agent="a", content="x"))
    assert json.loads(encode(event("pong")))["type"] == "pong"


async def test_stop_while_a_tool_hangs_cancels_cleanly(
    server: RunningServer, client: WsClient, fake_model: FakeModelServer
) -> None:
    """A tool blocked forever (reading a FIFO) is cancelled by stop; the team is usable afterwards."""
    import os

    fifo = server.settings.agent_workdir / "pipe"
    os.mkfifo(fifo)
    fake_model.enqueue(Reply.of_tool_call("run_terminal_command", {"command": "cat pipe"}))
    await client.send(type="message", content="read the pipe")
    call = (await client.recv_until("tool_call"))[-1]
    assert call["name"] == "run_terminal_command"
    sid = call["session_id"]
    for _ in range(500):  # until the command is running and blocked on the FIFO
        if any(b"cat\0pipe" in cmdline for cmdline in _cmdlines()):
            break
        await asyncio.sleep(0.01)
    await client.send(type="stop", session_id=sid)
    events = await client.recv_until("done")
    assert events[-1]["status"] == "cancelled"
    again = await client.turn("are you still there?", session_id=sid)
    assert of_type(again, "done")[0]["status"] == "ok"


async def test_docker_absent_server_still_chats(
    make_settings: Callable[..., Settings], fake_model: FakeModelServer
) -> None:
    """With an unreachable Docker engine: start-up works, /healthz says why, sandbox tools fail clearly."""
    running = await RunningServer(
        make_settings(SANDBOX_ENABLED="1", DOCKER_HOST="unix:///nonexistent/docker.sock")
    ).start()
    ws = await running.client()
    try:
        async with httpx.AsyncClient() as http:
            health = (await http.get(running.http + "/healthz")).json()
        assert health["sandbox"]["available"] is False and health["sandbox"]["reason"]
        fake_model.enqueue(Reply.of_tool_call("sandbox_exec", {"command": "echo hi"}), Reply.of_text("No sandbox."))
        events = await ws.turn("run echo in the sandbox")
        result = of_type(events, "tool_result")[0]
        assert result["is_error"] is True and result["content"].startswith("sandbox unavailable")
        assert of_type(events, "done")[0]["status"] == "ok"
        await ws.send(type="sandbox_status", session_id=events[0]["session_id"])
        status = (await ws.recv_until(lambda e: e["type"] in ("sandbox_status", "error")))[-1]
        assert status.get("available") is False or status.get("code") == "sandbox_unavailable"
    finally:
        await ws.close()
        await running.stop()


async def test_idle_sessions_are_evicted_and_come_back_from_disk(
    server: RunningServer, client: WsClient, fake_model: FakeModelServer
) -> None:
    """An idle session leaves memory and is rebuilt from disk with its conversation on the next turn."""
    sid = (await client.turn("remember the word pelican"))[0]["session_id"]
    await client.close()
    assert server.runtime is not None
    registry = server.runtime.sessions
    evicted = 0
    for _ in range(50):  # the server notices the closed socket asynchronously
        evicted += await registry.evict_idle(older_than=0)
        if evicted:
            break
        await asyncio.sleep(0.02)
    assert evicted == 1
    assert registry.live_count == 0
    ws = await server.client()
    events = await ws.turn("which word?", session_id=sid)
    assert of_type(events, "done")[0]["status"] == "ok"
    assert "pelican" in fake_model.chat_requests[-1].text
    await ws.close()


@pytest.mark.parametrize(
    ("reply", "limit"),
    [
        (Reply.of_text("flood " * 20_000, chunk_chars=6), "4000"),  # a server that ignores max_tokens
        (Reply.of_text("x" * 200_000, chunk_chars=200_000), "0"),  # one enormous delta
    ],
)
async def test_model_output_is_bounded(
    make_settings: Callable[..., Settings], fake_model: FakeModelServer, reply: Reply, limit: str
) -> None:
    """Past MODEL_OUTPUT_LIMIT (or one delta over 64 KiB) the stream is closed: error model_output_limit
    and done; the session keeps working."""
    running = await RunningServer(make_settings(MODEL_OUTPUT_LIMIT=limit)).start()
    ws = await running.client()
    try:
        fake_model.enqueue(reply)
        events = await ws.turn("talk a lot", timeout=10 * UNIT)
        assert of_type(events, "error")[0]["code"] == "model_output_limit"
        assert of_type(events, "done")[0]["status"] == "error"
        again = await ws.turn("short please", session_id=events[0]["session_id"])
        assert of_type(again, "done")[0]["status"] == "ok"
    finally:
        await ws.close()
        await running.stop()


def _cmdlines() -> list[bytes]:
    found = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            found.append(path.read_bytes())
        except OSError:
            continue
    return found
