"""Per-turn traces: the span tree a scripted turn produces, read back over HTTP and in ``done``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from backend.context import SUMMARY_REQUEST_MARKER
from backend.sessions.tracing import TurnTrace, redact
from backend.settings import Settings
from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, RecordedRequest, Reply
from tests.support.client import UNIT, of_type


@pytest.fixture
async def team_server(make_settings: Callable[..., Settings]) -> AsyncIterator[RunningServer]:
    settings = make_settings(TEAM="default")
    (settings.agent_workdir / "notes.txt").write_text("alpha\nbeta\n")
    running = await RunningServer(settings).start()
    try:
        yield running
    finally:
        await running.stop()


async def test_a_turn_with_a_handoff_and_two_tool_calls(
    team_server: RunningServer, fake_model: FakeModelServer
) -> None:
    """turn → model calls (tokens equal to what the model server reported), a handoff, two tool spans."""
    fake_model.enqueue(
        Reply.of_tool_call("transfer_to_operator", {}),
        Reply.of_tool_calls(
            ("run_terminal_command", {"command": "ls"}), ("run_terminal_command", {"command": "cat notes.txt"})
        ),
        Reply.of_text("notes.txt holds alpha and beta."),
    )
    ws = await team_server.client()
    try:
        events = await ws.turn("what is in notes.txt?", timeout=4 * UNIT)
    finally:
        await ws.close()
    done = of_type(events, "done")[0]
    assert done["status"] == "ok"
    sid = events[0]["session_id"]
    turn = of_type(events, "user_message")[0]["seq"]
    async with httpx.AsyncClient(base_url=team_server.http, timeout=2 * UNIT) as http:
        body = (await http.get(f"/v1/sessions/{sid}/traces", params={"turn": turn})).json()
        latest = (await http.get(f"/v1/sessions/{sid}/traces")).json()
        missing = await http.get(f"/v1/sessions/{sid}/traces", params={"turn": turn + 1000})
    assert latest["turn"] == turn and latest["spans"] == body["spans"]
    assert missing.status_code == 404
    spans: list[dict[str, Any]] = body["spans"]
    root = [s for s in spans if s["parent_id"] is None]
    assert len(root) == 1 and root[0]["span_type"] == "turn" and root[0]["status"] == "ok"
    assert all(s["parent_id"] == root[0]["span_id"] for s in spans if s is not root[0])
    models = [s for s in spans if s["span_type"] == "model"]
    requests = fake_model.chat_requests
    assert len(models) == len(requests) == 3
    assert [m["attributes"]["prompt_tokens"] for m in models] == [r.prompt_tokens for r in requests]
    assert [m["attributes"]["agent"] for m in models] == ["assistant", "operator", "operator"]
    assert sum(m["attributes"]["completion_tokens"] for m in models) == done["usage"]["completion_tokens"]
    assert all(m["duration_ms"] >= 0 and m["attributes"]["ttft_ms"] is not None for m in models[2:])
    tools = [s for s in spans if s["span_type"] == "tool" and s["name"] == "run_terminal_command"]
    assert sorted(t["attributes"]["arguments"] for t in tools) == ['{"command": "cat notes.txt"}', '{"command": "ls"}']
    assert all(t["status"] == "ok" and t["attributes"]["result_chars"] > 0 for t in tools)
    handoffs = [s for s in spans if s["span_type"] == "handoff"]
    assert [(h["attributes"]["agent"], h["attributes"]["target"]) for h in handoffs] == [("assistant", "operator")]
    assert all(root[0]["started_at"] <= s["started_at"] <= s["ended_at"] <= root[0]["ended_at"] + 1e-3 for s in spans)
    trace = done["trace"]
    assert trace["turn"] == turn and trace["model_calls"] == 3 and trace["spans"] == len(spans)
    assert trace["tool_calls"] == len([s for s in spans if s["span_type"] == "tool"])


async def test_a_failed_turn_and_a_terminal_turn_are_traced(server: RunningServer, fake_model: FakeModelServer) -> None:
    """A model failure is the root span's error; `!ls` is a terminal turn with one tool span."""
    fake_model.enqueue(Reply.of_error(500))
    ws = await server.client()
    try:
        failed = await ws.turn("break", timeout=4 * UNIT)
        sid = failed[0]["session_id"]
        ran = await ws.turn("!ls", session_id=sid, timeout=4 * UNIT)
    finally:
        await ws.close()
    async with httpx.AsyncClient(base_url=server.http, timeout=2 * UNIT) as http:
        first = (
            await http.get(f"/v1/sessions/{sid}/traces", params={"turn": of_type(failed, "user_message")[0]["seq"]})
        ).json()
        second = (
            await http.get(f"/v1/sessions/{sid}/traces", params={"turn": of_type(ran, "user_message")[0]["seq"]})
        ).json()
    root = first["spans"][0]
    assert root["span_type"] == "turn" and root["status"] == "error" and root["error_code"] == "model_error"
    assert second["spans"][0]["attributes"]["kind"] == "terminal"
    assert [s["name"] for s in second["spans"][1:]] == ["run_terminal_command"]
    assert len(second["turns"]) == 2


def test_folds_waits_and_open_spans_at_the_end() -> None:
    """Pure: a fold is a context span; a question is a wait span; what is open at the end is cancelled."""
    trace = TurnTrace(turn=7, wall0=1000.0, mono0=50.0, model="m")
    trace.event("summary", {"agent": "a", "folded": 6, "summarized_messages": 6, "summary_tokens": 120}, 50.1)
    trace.event("question", {"question_id": "q1", "agent": "a"}, 50.2)
    trace.event("question_closed", {"question_id": "q1", "status": "answered"}, 51.2)
    trace.event("tool_call", {"id": "c1", "name": "run_python", "agent": "a", "arguments": {"code": "1"}}, 51.3)
    trace.delta("a", 51.5)
    trace.model_call("a", 100, 20, 0.4, 51.6)
    spans = trace.finish("cancelled", 52.0, usage={"prompt_tokens": 100, "completion_tokens": 20})
    kinds = {(s.span_type, s.name, s.status) for s in spans}
    assert ("context", "fold", "ok") in kinds and ("wait", "question", "ok") in kinds
    assert ("tool", "run_python", "cancelled") in kinds and ("turn", "turn 7", "cancelled") in kinds
    wait = next(s for s in spans if s.span_type == "wait")
    assert wait.duration_ms == pytest.approx(1000.0) and wait.started_at == pytest.approx(1000.2)
    model = next(s for s in spans if s.span_type == "model")
    assert model.attributes["ttft_ms"] == pytest.approx(300.0)
    fold = next(s for s in spans if s.span_type == "context")
    assert fold.attributes["folded_messages"] == 6 and fold.attributes["summary_tokens"] == 120


def test_tool_arguments_are_redacted_and_truncated() -> None:
    kept = redact({"command": "curl -H 'Authorization: Bearer abcdefghijkl'", "api_key": "x", "n": 1})
    assert "abcdefghijkl" not in kept and '"api_key": "[redacted]"' in kept and '"n": 1' in kept
    assert len(redact({"text": "y" * 5000})) == 500


async def test_a_server_without_usage_gets_our_estimate_marked_unreported(
    server: RunningServer, fake_model: FakeModelServer
) -> None:
    """llama-cpp-python reports no usage on streams: done, the spans and /v1/stats carry our own
    counts (the context's prompt count, the completion counted), marked reported: false."""
    fake_model.report_usage = False
    fake_model.enqueue(Reply.of_text("one two three four five six seven eight"))
    ws = await server.client()
    try:
        events = await ws.turn("count to eight", timeout=4 * UNIT)
    finally:
        await ws.close()
    usage = of_type(events, "done")[0]["usage"]
    assert usage["reported"] is False
    context = of_type(events, "context")[0]
    assert usage["prompt_tokens"] == context["prompt_tokens"] > 0 and context["server_prompt_tokens"] is None
    assert usage["completion_tokens"] == 8  # "one two … eight": eight tokens
    sid = events[0]["session_id"]
    async with httpx.AsyncClient(base_url=server.http, timeout=2 * UNIT) as http:
        spans = (await http.get(f"/v1/sessions/{sid}/traces")).json()["spans"]
        stats = (await http.get("/v1/stats")).json()
    model = next(s for s in spans if s["span_type"] == "model")
    assert model["attributes"]["usage_reported"] is False
    assert model["attributes"]["prompt_tokens"] == usage["prompt_tokens"]
    assert stats["totals"]["unreported"] == 1 and stats["totals"]["completion_tokens"] == 8


async def test_a_fold_inside_a_turn_is_a_context_span(server: RunningServer, fake_model: FakeModelServer) -> None:
    """A big tool result pushes the history over the budget mid-turn: the next model call folds the
    earlier turn, and the turn's trace has a context span with what was folded."""
    filler = "The quarterly report covers revenue, churn, hiring and the roadmap for next year. "
    (server.settings.agent_workdir / "report.txt").write_text(filler * 110)  # ~1,800 tokens

    def respond(request: RecordedRequest) -> Reply:
        if SUMMARY_REQUEST_MARKER in str(request.messages[0].get("content")):
            return Reply.of_text("Earlier the user shared a long preamble about the report.")
        if request.messages[-1]["role"] == "user" and "read it" in request.last_user:
            return Reply.of_tool_call("run_terminal_command", {"command": "cat report.txt"})
        return Reply.of_text("Noted.")

    fake_model.responder = respond
    ws = await server.client()
    try:
        first = await ws.turn("Preamble. " + filler * 20, timeout=4 * UNIT)
        sid = first[0]["session_id"]
        events = await ws.turn("now read it", session_id=sid, timeout=4 * UNIT)
    finally:
        await ws.close()
    assert of_type(events, "summary"), "the history was not folded during the turn"
    assert of_type(events, "done")[0]["trace"]["folds"] >= 1
    async with httpx.AsyncClient(base_url=server.http, timeout=2 * UNIT) as http:
        spans = (await http.get(f"/v1/sessions/{sid}/traces")).json()["spans"]
    folds = [s for s in spans if s["span_type"] == "context"]
    summary = of_type(events, "summary")[0]
    assert folds and folds[0]["attributes"]["folded_messages"] == summary["folded"] > 0
    assert folds[0]["attributes"]["summary_tokens"] == summary["summary_tokens"] > 0
