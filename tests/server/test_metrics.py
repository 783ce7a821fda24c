"""``GET /metrics`` against a real server on port 0: Prometheus text that moves with traffic."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from backend.settings import Settings
from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import UNIT
from tests.support.sse import SseEvent, SseReader

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http, timeout=2 * UNIT) as client:
        yield client


async def scrape(http: httpx.AsyncClient) -> Samples:
    """Every sample of ``/metrics``, parsed by prometheus_client's own text parser."""
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def run_turn(http: httpx.AsyncClient, sid: str, content: str) -> list[SseEvent]:
    last_seq = (await http.get(f"/v1/sessions/{sid}")).json()["last_seq"]
    async with http.stream("GET", f"/v1/sessions/{sid}/events", params={"after": last_seq}) as response:
        reader = SseReader(response)
        ack = await http.post(f"/v1/sessions/{sid}/messages", json={"content": content})
        assert ack.status_code == 202
        return await reader.until("done")


async def new_session(http: httpx.AsyncClient) -> str:
    response = await http.post("/v1/sessions", json={})
    assert response.status_code == 201
    return str(response.json()["session_id"])


async def test_a_turn_moves_turns_tokens_and_histograms(http: httpx.AsyncClient, fake_model: FakeModelServer) -> None:
    """One ok turn: turns{ok} +1, tokens equal to what the model server reported, TTFT/duration counts +1."""
    sid = await new_session(http)
    before = await scrape(http)
    fake_model.enqueue(Reply.of_text("Spring wind on the face, a long answer in pieces", chunk_chars=5))
    events = await run_turn(http, sid, "hello")
    done = events[-1].json
    assert done["status"] == "ok"
    after = await scrape(http)
    model = fake_model.model
    prompt = sum(r.prompt_tokens for r in fake_model.requests)
    assert prompt > 0 and done["usage"]["prompt_tokens"] == prompt
    assert moved(before, after, "agentchat_turns_total", status="ok") == 1
    assert moved(before, after, "agentchat_model_tokens_total", model=model, kind="prompt") == prompt
    completion = done["usage"]["completion_tokens"]
    assert completion > 0
    assert moved(before, after, "agentchat_model_tokens_total", model=model, kind="completion") == completion
    assert moved(before, after, "agentchat_time_to_first_token_seconds_count") == 1
    assert moved(before, after, "agentchat_turn_duration_seconds_count") == 1
    assert value(after, "agentchat_sessions_live") >= 1 and value(after, "agentchat_sessions_stored") == 1
    assert moved(before, after, "agentchat_store_write_seconds_count", outcome="ok") >= 1
    assert value(after, "agentchat_sandboxes_running") == 0 and value(after, "agentchat_sandbox_available") == 0


async def test_tool_calls_and_model_errors_are_counted(http: httpx.AsyncClient, fake_model: FakeModelServer) -> None:
    """A tool call moves tool_calls and the tool histogram; a model error moves errors{code} and turns{error}."""
    sid = await new_session(http)
    before = await scrape(http)
    fake_model.enqueue(Reply.of_tool_call("add_todo", {"title": "buy milk"}), Reply.of_text("Added."))
    events = await run_turn(http, sid, "remind me to buy milk")
    assert [e.json["name"] for e in events if e.event == "tool_result"] == ["add_todo"]
    assert events[-1].json["status"] == "ok"
    fake_model.enqueue(Reply.of_error(500), Reply.of_error(500))
    failed = await run_turn(http, sid, "again")
    codes = [e.json["code"] for e in failed if e.event == "error"]
    assert failed[-1].json["status"] == "error" and codes
    after = await scrape(http)
    assert moved(before, after, "agentchat_tool_calls_total", tool="add_todo", status="ok") == 1
    assert moved(before, after, "agentchat_tool_duration_seconds_count", tool="add_todo") == 1
    assert moved(before, after, "agentchat_turns_total", status="ok") == 1
    assert moved(before, after, "agentchat_turns_total", status="error") == 1
    for code in set(codes):
        assert moved(before, after, "agentchat_errors_total", code=code) == codes.count(code)


async def test_metrics_need_the_token_when_auth_is_on(make_settings: Callable[..., Settings]) -> None:
    """With AUTH_TOKEN set, /metrics answers 401 without it and the exposition with it."""
    token = "m" * 24
    running = await RunningServer(make_settings(AUTH_TOKEN=token)).start()
    try:
        async with httpx.AsyncClient(base_url=running.http, timeout=2 * UNIT) as http:
            assert (await http.get("/metrics")).status_code == 401
            headers: dict[str, Any] = {"Authorization": f"Bearer {token}"}
            authed = await http.get("/metrics", headers=headers)
            assert authed.status_code == 200
            names = {f.name for f in text_string_to_metric_families(authed.text)}
            assert {"agentchat_turns", "agentchat_sessions_stored", "agentchat_event_loop_lag_seconds"} <= names
    finally:
        await running.stop()


async def test_metrics_need_an_admin_key_in_keys_mode(make_settings: Callable[..., Settings]) -> None:
    """AUTH_MODE=keys: /metrics is 401 without a key, 403 for a chat-only key, 200 for an admin key."""
    running = await RunningServer(make_settings(AUTH_MODE="keys", AUTH_FAIL_LIMIT="50")).start()
    try:
        async with httpx.AsyncClient(base_url=running.http, timeout=2 * UNIT) as http:
            first = await http.post("/v1/api-keys", json={"name": "first"})  # loopback bootstrap: an admin key
            assert first.status_code == 201
            admin = {"Authorization": f"Bearer {first.json()['key']}"}
            created = await http.post("/v1/api-keys", json={"name": "chat", "admin": False}, headers=admin)
            assert created.status_code == 201
            chat = {"Authorization": f"Bearer {created.json()['key']}"}
            assert (await http.get("/metrics")).status_code == 401
            assert (await http.get("/metrics", headers=chat)).status_code == 403
            authed = await http.get("/metrics", headers=admin)
            assert authed.status_code == 200
            assert "agentchat_turns" in {f.name for f in text_string_to_metric_families(authed.text)}
    finally:
        await running.stop()
