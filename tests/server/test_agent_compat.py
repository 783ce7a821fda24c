"""The earlier streaming agent's routes (/chat/stream, /chat, /health, /stats, /reset-stats) and
/v1/stats, against a real server on port 0 with the scripted model behind the real AutoGen client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from backend.settings import Settings
from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import UNIT
from tests.support.sse import SseEvent, SseReader

PRICES = json.dumps({"scripted-model": {"input": 2.0, "output": 8.0}})


@pytest.fixture
async def priced(make_settings: Callable[..., Settings], fake_model: FakeModelServer) -> AsyncIterator[RunningServer]:
    running = await RunningServer(make_settings(MODEL_PRICES=PRICES, LLM_MODEL="scripted-model")).start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def http(priced: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=priced.http, timeout=2 * UNIT) as client:
        yield client


async def chat_stream(http: httpx.AsyncClient, body: dict[str, Any]) -> tuple[list[dict[str, Any]], httpx.Headers]:
    async with http.stream("POST", "/chat/stream", json=body) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = SseReader(response)
        frames: list[dict[str, Any]] = []
        while not frames or frames[-1]["type"] not in ("complete", "error"):
            frames.append((await reader.next()).json)
        return frames, response.headers


async def session_events_until_done(http: httpx.AsyncClient, sid: str) -> list[SseEvent]:
    async with http.stream("GET", f"/v1/sessions/{sid}/events") as response:
        return await SseReader(response).until("done")


async def test_chat_stream_frames_in_the_earlier_format(http: httpx.AsyncClient, fake_model: FakeModelServer) -> None:
    """start, content chunks that add up to the answer, complete with usage and a priced total_cost."""
    fake_model.enqueue(Reply.of_text("Spring wind on the face"))
    frames, _ = await chat_stream(http, {"message": "写一首关于春天的诗"})
    assert frames[0]["type"] == "start" and frames[0]["session_id"]
    chunks = [f["chunk"] for f in frames if f["type"] == "content"]
    assert chunks and "".join(chunks) == "Spring wind on the face"  # (streaming before the end: see below)
    complete = frames[-1]
    assert complete["type"] == "complete" and complete["full_content"] == "Spring wind on the face"
    usage = complete["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    expected = (usage["input_tokens"] * 2.0 + usage["output_tokens"] * 8.0) / 1_000_000
    assert usage["total_cost"] == pytest.approx(expected)


async def test_system_prompt_and_session_id_continue_a_conversation(
    http: httpx.AsyncClient, fake_model: FakeModelServer
) -> None:
    """system_prompt reaches the model with the message; session_id continues the same session."""
    fake_model.enqueue(Reply.of_text("Hello Ada."), Reply.of_text("You are Ada."))
    first, _ = await chat_stream(http, {"message": "I am Ada.", "system_prompt": "You are a poet."})
    assert "You are a poet." in fake_model.chat_requests[-1].text
    sid = first[0]["session_id"]
    second, _ = await chat_stream(http, {"message": "Who am I?", "session_id": sid})
    assert second[0]["session_id"] == sid and second[-1]["full_content"] == "You are Ada."
    upstream = fake_model.chat_requests[-1].text
    assert "I am Ada." in upstream and "Hello Ada." in upstream


async def test_chat_answers_one_json(http: httpx.AsyncClient, fake_model: FakeModelServer) -> None:
    fake_model.enqueue(Reply.of_text("你好，世界"))
    response = await http.post("/chat", json={"message": "你好"})
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "complete" and body["full_content"] == body["response"] == "你好，世界"
    assert body["usage"]["total_tokens"] > 0 and body["session_id"]


async def test_explicit_terminal_mode_over_chat_stream(http: httpx.AsyncClient, priced: RunningServer) -> None:
    """The gateway's `!ls -la` works over the streaming agent's route too (no model involved)."""
    (priced.settings.agent_workdir / "marker.txt").write_text("x")
    frames, _ = await chat_stream(http, {"message": "!ls -la"})
    assert frames[-1]["type"] == "complete"
    assert "marker.txt" in frames[-1]["full_content"]


async def test_model_failures_are_error_frames_and_http_errors(
    http: httpx.AsyncClient, fake_model: FakeModelServer
) -> None:
    """An upstream failure: an error frame on /chat/stream, a 502 on /chat; the server keeps serving."""
    fake_model.enqueue(Reply.of_error(500), Reply.of_error(500), Reply.of_text("fine again"))
    frames, _ = await chat_stream(http, {"message": "break"})
    assert frames[-1]["type"] == "error" and "500" in frames[-1]["error"]
    response = await http.post("/chat", json={"message": "break again"})
    assert response.status_code == 502 and response.json()["type"] == "error"
    ok = await http.post("/chat", json={"message": "and now?"})
    assert ok.status_code == 200 and ok.json()["full_content"] == "fine again"


async def test_a_model_timeout_is_a_504(make_settings: Callable[..., Settings], fake_model: FakeModelServer) -> None:
    """No answer within LLM_TIMEOUT: 504 on /chat and on the OpenAI face."""
    running = await RunningServer(make_settings(LLM_TIMEOUT="1")).start()
    try:
        fake_model.enqueue(Reply.of_stall(), Reply.of_stall())
        async with httpx.AsyncClient(base_url=running.http, timeout=4 * UNIT) as http:
            response = await http.post("/chat", json={"message": "wait"})
            assert response.status_code == 504, response.text
            assert response.json()["code"] == "model_timeout"
            body = {"model": "solo", "messages": [{"role": "user", "content": "wait"}]}
            openai_face = await http.post("/v1/chat/completions", json=body)
            assert openai_face.status_code == 504 and openai_face.json()["error"]["code"] == "model_timeout"
    finally:
        await running.stop()


async def test_a_client_that_goes_away_stops_the_turn(http: httpx.AsyncClient, fake_model: FakeModelServer) -> None:
    """Closing /chat/stream mid-answer stops the turn (done: cancelled); what was produced stays."""
    fake_model.enqueue(Reply.of_stall("one two three four five six", after_chunks=2))
    async with http.stream("POST", "/chat/stream", json={"message": "go on"}) as response:
        sid = response.headers["x-session-id"]
        reader = SseReader(response)
        assert (await reader.next()).json["type"] == "start"
        assert (await reader.next()).json["type"] == "content"
    events = await session_events_until_done(http, sid)
    assert events[-1].json["status"] == "cancelled"
    assert any(e.event == "delta" for e in events)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("not json", 400),
        ("[1, 2]", 400),
        ('{"message": ""}', 400),
        ('{"message": 42}', 400),
        ('{"message": "hi", "system_prompt": 7}', 400),
        ('{"message": "hi", "session_id": "../../etc"}', 400),
        ('{"message": "hi", "session_id": "nosuchsession"}', 404),
        ('{"message": "' + "x" * (10 * 1024 * 1024) + '"}', 413),
    ],
)
async def test_hostile_bodies_are_clear_errors(http: httpx.AsyncClient, body: str, status: int) -> None:
    for path in ("/chat/stream", "/chat"):
        response = await http.post(path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == status, (path, response.text[:200])
    assert (await http.get("/health")).status_code == 200


async def test_health_in_the_earlier_words(http: httpx.AsyncClient) -> None:
    body = (await http.get("/health")).json()
    assert body["status"] == "healthy" and body["streaming"] is True and body["model"] == "scripted-model"


async def test_stats_reset_stats_and_v1_stats(http: httpx.AsyncClient, fake_model: FakeModelServer) -> None:
    """/stats counts since the last /reset-stats; /v1/stats keeps everything, per model, day and session."""
    fake_model.enqueue(Reply.of_text("a b c"), Reply.of_text("d e f"), Reply.of_text("g h i"))
    first = (await http.post("/chat", json={"message": "one"})).json()
    await http.post("/chat", json={"message": "two"})
    stats = (await http.get("/stats")).json()
    assert stats["total_requests"] == 2
    assert stats["total_tokens"] == stats["total_input_tokens"] + stats["total_output_tokens"] > 0
    assert stats["total_cost"] > 0 and "scripted-model" in stats["models"]
    reset = await http.post("/reset-stats")
    assert reset.status_code == 200 and reset.json()["status"] == "reset"
    assert (await http.get("/stats")).json()["total_requests"] == 0
    await http.post("/chat", json={"message": "three"})
    assert (await http.get("/stats")).json()["total_requests"] == 1
    report = (await http.get("/v1/stats")).json()
    assert report["totals"]["requests"] == 3 and report["currency"] == "USD"
    assert [m["model"] for m in report["by_model"]] == ["scripted-model"]
    assert len(report["by_day"]) == 1 and report["by_day"][0]["requests"] == 3
    assert len(report["by_session"]) == 3 and first["session_id"] in {s["session_id"] for s in report["by_session"]}
    assert report["totals"]["cost"] == pytest.approx(sum(s["cost"] for s in report["by_session"]))
    assert (await http.get("/v1/stats?since=abc")).status_code == 400


async def test_the_token_guards_the_earlier_routes(
    make_settings: Callable[..., Settings], fake_model: FakeModelServer
) -> None:
    """With AUTH_TOKEN set, /chat, /chat/stream, /stats and /reset-stats need it; /health stays open."""
    token = "t" * 24
    running = await RunningServer(make_settings(AUTH_TOKEN=token)).start()
    try:
        async with httpx.AsyncClient(base_url=running.http, timeout=2 * UNIT) as http:
            for method, path in (("POST", "/chat"), ("POST", "/chat/stream"), ("GET", "/stats"),
                                 ("POST", "/reset-stats"), ("GET", "/v1/stats")):  # fmt: skip
                response = await http.request(method, path, json={"message": "hi"} if method == "POST" else None)
                assert response.status_code == 401, path
            assert (await http.get("/health")).status_code == 200
            fake_model.enqueue(Reply.of_text("ok"))
            authed = await http.post("/chat", json={"message": "hi"}, headers={"Authorization": f"Bearer {token}"})
            assert authed.status_code == 200
    finally:
        await running.stop()
