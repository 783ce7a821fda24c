"""Human approval of tool calls, end to end: the real server, the scripted model, WebSocket and HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import openai
import pytest

from backend.settings import Settings
from backend.tools.approval_policy import assess, grant_key, terminal_writes
from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import UNIT, WsClient, of_type

LS = Reply.of_tool_call("run_terminal_command", {"command": "ls"})


@pytest.fixture
async def asking(make_settings: Callable[..., Settings]) -> AsyncIterator[RunningServer]:
    """A server whose every tool call asks first (APPROVAL_POLICY=always)."""
    settings = make_settings(APPROVAL_POLICY="always")
    (settings.agent_workdir / "notes.txt").write_text("alpha\n")
    running = await RunningServer(settings).start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def ws(asking: RunningServer) -> AsyncIterator[WsClient]:
    client = await asking.client()
    try:
        yield client
    finally:
        await client.close()


async def request_approval(ws: WsClient, content: str, **fields: Any) -> dict[str, Any]:
    await ws.send(type="message", content=content, **fields)
    return (await ws.recv_until("approval_request"))[-1]


async def test_allow_runs_the_tool(ws: WsClient, fake_model: FakeModelServer) -> None:
    fake_model.enqueue(LS, Reply.of_text("Here are the files."))
    request = await request_approval(ws, "list files")
    assert (request["agent"], request["tool"], request["arguments"]) == (
        "assistant",
        "run_terminal_command",
        {"command": "ls"},
    )
    assert request["grant"] == "run_terminal_command:ls" and request["expires_at"] > request["ts"]
    await ws.send(type="approval", approval_id=request["approval_id"], decision="allow")
    events = await ws.recv_until("done")
    result = of_type(events, "approval_result")[0]
    assert (result["decision"], result["by"]) == ("allow", "user")
    assert "notes.txt" in of_type(events, "tool_result")[0]["content"]
    assert of_type(events, "done")[0]["status"] == "ok"


async def test_a_denial_reaches_the_model_as_the_tool_result(ws: WsClient, fake_model: FakeModelServer) -> None:
    fake_model.enqueue(LS, Reply.of_text("Understood, I will not look."))
    request = await request_approval(ws, "list files")
    await ws.send(type="approval", approval_id=request["approval_id"], decision="deny", note="not now")
    events = await ws.recv_until("done")
    assert of_type(events, "tool_result")[0]["content"] == "denied by the user: not now"
    assert of_type(events, "done")[0]["status"] == "ok"  # the team adapts; nothing broke
    assert "denied by the user: not now" in fake_model.chat_requests[-1].text


async def test_the_first_decision_wins(asking: RunningServer, ws: WsClient, fake_model: FakeModelServer) -> None:
    """A racing second decision is refused clearly, over the WebSocket (error frame) and HTTP (409)."""
    fake_model.enqueue(LS, Reply.of_text("ok"))
    request = await request_approval(ws, "list files")
    sid, approval_id = request["session_id"], request["approval_id"]
    async with httpx.AsyncClient(base_url=asking.http, timeout=2 * UNIT) as http:
        first = await http.post(f"/v1/sessions/{sid}/approvals/{approval_id}", json={"decision": "allow"})
        assert first.status_code == 200
        second = await http.post(f"/v1/sessions/{sid}/approvals/{approval_id}", json={"decision": "deny"})
        assert second.status_code == 409 and second.json()["code"] == "approval_closed"
        unknown = await http.post(f"/v1/sessions/{sid}/approvals/nope", json={"decision": "deny"})
        assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_approval"
        bad = await http.post(f"/v1/sessions/{sid}/approvals/{approval_id}", json={"decision": "maybe"})
        assert bad.status_code == 400
    await ws.recv_until("done")
    await ws.send(type="approval", approval_id=approval_id, decision="deny", session_id=sid)
    error = (await ws.recv_until("error"))[-1]
    assert error["code"] == "approval_closed"


async def test_allow_always_lasts_for_the_program_and_can_be_revoked(ws: WsClient, fake_model: FakeModelServer) -> None:
    fake_model.enqueue(LS, Reply.of_text("one"), LS, Reply.of_text("two"),
                       Reply.of_tool_call("run_terminal_command", {"command": "cat notes.txt"}))  # fmt: skip
    request = await request_approval(ws, "list files")
    sid = request["session_id"]
    await ws.send(type="approval", approval_id=request["approval_id"], decision="allow_always")
    events = await ws.recv_until("done")
    assert of_type(events, "approval_grants")[-1]["grants"] == ["run_terminal_command:ls"]
    again = await ws.turn("list again", session_id=sid)
    assert not of_type(again, "approval_request") and "notes.txt" in of_type(again, "tool_result")[0]["content"]
    other = await request_approval(ws, "read it", session_id=sid)  # another program asks
    assert other["grant"] == "run_terminal_command:cat"
    await ws.send(type="stop", session_id=sid)
    await ws.recv_until("done")
    await ws.send(type="resume", session_id=sid, last_seq=0)
    state = (await ws.recv_until("session"))[-1]
    assert state["approval_grants"] == ["run_terminal_command:ls"]
    await ws.send(type="approval_revoke", grant="run_terminal_command:ls", session_id=sid)
    revoked = (await ws.recv_until(lambda e: e["type"] == "approval_grants" and e["seq"] > state["last_seq"]))[-1]
    assert revoked["grants"] == []


async def test_stop_denies_what_is_pending_and_a_reconnect_sees_it(
    asking: RunningServer, ws: WsClient, fake_model: FakeModelServer
) -> None:
    fake_model.enqueue(LS)
    request = await request_approval(ws, "list files")
    sid = request["session_id"]
    other = await asking.client()
    try:
        await other.send(type="resume", session_id=sid, last_seq=0)
        state = (await other.recv_until("session"))[-1]
        assert [a["approval_id"] for a in state["pending_approvals"]] == [request["approval_id"]]
    finally:
        await other.close()
    await ws.send(type="stop", session_id=sid)
    events = await ws.recv_until("done")
    result = of_type(events, "approval_result")[0]
    assert (result["decision"], result["by"]) == ("deny", "stop") and events[-1]["status"] == "cancelled"


async def test_no_decision_in_time_is_a_deny(
    make_settings: Callable[..., Settings], fake_model: FakeModelServer
) -> None:
    running = await RunningServer(make_settings(APPROVAL_POLICY="always", APPROVAL_TIMEOUT="1")).start()
    fake_model.enqueue(LS, Reply.of_text("Fine, no listing."))
    ws = await running.client()
    try:
        events = await ws.turn("list files", timeout=4 * UNIT)
    finally:
        await ws.close()
        await running.stop()
    result = of_type(events, "approval_result")[0]
    assert (result["decision"], result["by"]) == ("deny", "timeout")
    assert of_type(events, "tool_result")[0]["content"].startswith("denied by the user: no decision within")
    assert of_type(events, "done")[0]["status"] == "ok"


async def test_a_pending_approval_survives_a_restart(asking: RunningServer, fake_model: FakeModelServer) -> None:
    """Still pending after a restart (re-sent on resume); decided then, the team hears of it as context."""
    fake_model.enqueue(LS)
    ws = await asking.client()
    request = await request_approval(ws, "list files")
    sid = request["session_id"]
    await ws.close()
    await asking.stop()
    await asking.start()
    ws = await asking.client()
    try:
        await ws.send(type="resume", session_id=sid, last_seq=0)
        state = (await ws.recv_until("session"))[-1]
        assert [a["approval_id"] for a in state["pending_approvals"]] == [request["approval_id"]]
        await ws.send(type="approval", approval_id=request["approval_id"], decision="deny", note="never mind")
        result = (await ws.recv_until("approval_result"))[-1]
        assert result["decision"] == "deny"
        fake_model.enqueue(Reply.of_text("ok"))
        await ws.turn("what now?", session_id=sid)
    finally:
        await ws.close()
    assert "the user denied run_terminal_command" in fake_model.chat_requests[-1].text


async def test_http_faces_end_the_turn_and_point_to_the_session_api(
    asking: RunningServer, fake_model: FakeModelServer
) -> None:
    """An OpenAI client cannot answer an approval: the turn ends with where to answer it, no hang."""
    fake_model.enqueue(LS)
    async with openai.AsyncOpenAI(base_url=asking.http + "/v1", api_key="x", max_retries=0) as client:
        result = await client.chat.completions.create(model="solo", messages=[{"role": "user", "content": "ls"}])
    content = result.choices[0].message.content or ""
    assert "approval" in content and "/approvals/" in content


def test_the_policy() -> None:
    """risky: reading runs freely, git writes ask, the sandbox and todos never ask, unknown tools ask;
    always: everything but asking a question; never: nothing."""

    def asks(tool: str, group: str | None, args: dict[str, Any], policy: str = "risky") -> bool:
        return assess(tool, group, args, policy).ask

    assert not asks("run_terminal_command", "terminal", {"command": "ls -la"})
    assert not asks("run_terminal_command", "terminal", {"command": "git branch --list"})
    assert asks("run_terminal_command", "terminal", {"command": "git branch feature"})
    assert asks("run_terminal_command", "terminal", {"command": "git tag -d v1"})
    assert not asks("sandbox_run_python", "sandbox", {"code": "print(1)"})
    assert not asks("add_todo", "todos", {"title": "x"})
    assert not asks("run_workflow", "workflows", {"workflow": "w"})
    assert asks("run_workflow", "workflows", {"workflow": "w"}, "always")
    assert asks("time__get_current_time", None, {})
    assert asks("sandbox_run_python", "sandbox", {"code": "1"}, "always")
    assert not asks("ask_user_question", "questions", {"question": "?"}, "always")
    assert not asks("run_workflow", "workflows", {}, "never")
    assert grant_key("run_terminal_command", {"command": "git status"}) == "run_terminal_command:git"
    assert grant_key("add_todo", {}) == "add_todo"
    assert terminal_writes("cat notes.txt") is None
