"""MCP tool servers end to end: real stdio servers (mcp-server-time, the tests' own) confined like
terminal commands, a real streamable-HTTP server, the scripted model calling ``<server>__<tool>``."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.context import SUMMARY_REQUEST_MARKER
from backend.settings import Settings
from backend.tools.mcp import valid_schema
from backend.tools.mcp_config import McpServerSpec, from_environment, merge, parse_servers, tool_name
from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, RecordedRequest, Reply
from tests.support.client import UNIT, WsClient, of_type
from tests.support.mcp import fake_server, mcp_python, time_server

FAKE_MARK = "agentchat_fake_mcp"


def team_file(tmp_path: Path, servers: list[dict[str, Any]]) -> str:
    team = {
        "name": "solo",
        "kind": "round_robin",
        "max_turns": 1,
        "mcp_servers": servers,
        "agents": [
            {"name": "assistant", "system_message": "{system_prompt}", "tools": ["*"], "max_tool_iterations": 3}
        ],
    }
    path = tmp_path / "team.json"
    path.write_text(json.dumps(team))
    return str(path)


def fake_processes() -> list[int]:
    """Host pids of the tests' MCP server processes (bwrap's child included)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if FAKE_MARK.encode() in cmdline and b"bwrap" not in cmdline.split(b"\0")[0]:
                pids.append(int(proc.name))
    return pids


async def until_no_fake_process() -> None:
    """Wait (for the condition, bounded) until no server process of ours is left."""
    for _ in range(400):
        if not fake_processes():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"MCP server processes left behind: {fake_processes()}")


@pytest.fixture
async def servers(make_settings: Callable[..., Settings], tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    running: list[RunningServer] = []

    async def _start(mcp: list[dict[str, Any]], **env: str) -> RunningServer:
        server = await RunningServer(make_settings(TEAM=team_file(tmp_path, mcp), **env)).start()
        running.append(server)
        return server

    try:
        yield _start
    finally:
        for server in running:
            await server.stop()


async def test_a_stdio_server_s_tools_are_offered_and_run(
    servers: Callable[..., Any], fake_model: FakeModelServer
) -> None:
    """mcp-server-time (confined by bubblewrap): its tools reach the model as time__<tool>, a call runs,
    and the tool listings show them."""
    server = await servers(
        [{"name": "time", "command": time_server(), "args": ["--local-timezone", "UTC"], "trusted": True}]
    )
    fake_model.enqueue(
        Reply.of_tool_call("time__get_current_time", {"timezone": "Europe/Paris"}), Reply.of_text("It is late.")
    )
    ws = await server.client()
    try:
        events = await ws.turn("what time is it in Paris?", timeout=4 * UNIT)
    finally:
        await ws.close()
    offered = [t["function"]["name"] for t in fake_model.chat_requests[0].body.get("tools", [])]
    assert {"time__get_current_time", "time__convert_time"} <= set(offered)
    result = of_type(events, "tool_result")[0]
    assert result["name"] == "time__get_current_time" and not result["is_error"]
    assert '"timezone": "Europe/Paris"' in result["content"]
    assert of_type(events, "done")[0]["status"] == "ok"
    async with httpx.AsyncClient(base_url=server.http, timeout=2 * UNIT) as http:
        skills = (await http.get("/v1/skills")).json()["tools"]
    mcp = {t["name"]: t for t in skills if t.get("group") == "mcp"}
    assert set(mcp) == {"time__get_current_time", "time__convert_time"}
    assert mcp["time__get_current_time"]["agents"] == ["assistant"] and mcp["time__get_current_time"]["trusted"]


async def test_an_untrusted_server_s_tool_asks_first(servers: Callable[..., Any], fake_model: FakeModelServer) -> None:
    server = await servers([{"name": "fake", **fake_server()}])
    fake_model.enqueue(Reply.of_tool_call("fake__echo", {"text": "hi"}), Reply.of_text("Echoed."))
    ws = await server.client()
    try:
        await ws.send(type="message", content="echo hi")
        request = (await ws.recv_until("approval_request"))[-1]
        assert request["tool"] == "fake__echo" and request["arguments"] == {"text": "hi"}
        assert "not marked trusted" in request["reason"]
        await ws.send(type="approval", approval_id=request["approval_id"], decision="allow")
        events = await ws.recv_until("done", timeout=4 * UNIT)
    finally:
        await ws.close()
    assert of_type(events, "tool_result")[0]["content"] == "echo: hi"


async def test_a_hanging_call_times_out_and_the_server_is_restarted(
    servers: Callable[..., Any], fake_model: FakeModelServer
) -> None:
    """autogen#8265: our own timeout ends the call, takes the stdio process down; the next call starts a fresh one."""
    server = await servers([{"name": "fake", **fake_server(), "trusted": True, "timeout": 2}])
    fake_model.enqueue(
        Reply.of_tool_call("fake__hang", {}), Reply.of_text("It hung."),
        Reply.of_tool_call("fake__add", {"a": 2, "b": 3}), Reply.of_text("Five."),
    )  # fmt: skip
    ws = await server.client()
    try:
        hung = await ws.turn("wait", timeout=4 * UNIT)
        result = of_type(hung, "tool_result")[0]
        assert result["is_error"] and "timed out" in result["content"]
        await until_no_fake_process()
        again = await ws.turn("add", session_id=hung[0]["session_id"], timeout=4 * UNIT)
    finally:
        await ws.close()
    assert of_type(again, "tool_result")[0]["content"] == "5.0"


async def test_stop_stops_a_hanging_call_and_delete_ends_the_server(
    servers: Callable[..., Any], fake_model: FakeModelServer
) -> None:
    server = await servers([{"name": "fake", **fake_server(), "trusted": True, "timeout": 600}])
    fake_model.enqueue(Reply.of_tool_call("fake__hang", {}))
    ws = await server.client()
    try:
        await ws.send(type="message", content="wait forever")
        call = (await ws.recv_until("tool_call", timeout=4 * UNIT))[-1]
        assert fake_processes(), "the stdio server is running"
        await ws.send(type="stop", session_id=call["session_id"])
        events = await ws.recv_until("done", timeout=4 * UNIT)
        assert events[-1]["status"] == "cancelled"
        await until_no_fake_process()  # the call could not be cancelled: its server was stopped
        fake_model.enqueue(Reply.of_tool_call("fake__echo", {"text": "x"}), Reply.of_text("ok"))
        await ws.turn("echo", session_id=call["session_id"], timeout=4 * UNIT)
        assert fake_processes()
        await ws.send(type="delete", session_id=call["session_id"])
        await ws.recv_until("deleted")
        await until_no_fake_process()  # a stdio server never outlives its session
    finally:
        await ws.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def http_mcp() -> AsyncIterator[str]:
    """The tests' MCP server over streamable HTTP, in its own process."""
    port = free_port()
    proc = subprocess.Popen(
        [mcp_python(), "-m", FAKE_MARK, "http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(400):  # until it accepts connections
                try:
                    await http.get(f"http://127.0.0.1:{port}/")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.025)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_a_streamable_http_server_from_mcp_url(
    make_settings: Callable[..., Settings], fake_model: FakeModelServer, http_mcp: str
) -> None:
    """MCP_URL (the earlier streaming agent's setting): one HTTP server named mcp."""
    server = await RunningServer(make_settings(MCP_URL=http_mcp, APPROVAL_POLICY="never")).start()
    fake_model.enqueue(Reply.of_tool_call("mcp__add", {"a": 2, "b": 40}), Reply.of_text("42"))
    try:
        ws: WsClient = await server.client()
        events = await ws.turn("add", timeout=4 * UNIT)
        await ws.close()
    finally:
        await server.stop()
    assert of_type(events, "tool_result")[0]["content"] == "42.0"


async def test_an_unreachable_server_is_a_warning_not_a_broken_team(
    servers: Callable[..., Any], fake_model: FakeModelServer
) -> None:
    server = await servers([{"name": "gone", "url": "http://127.0.0.1:9/mcp", "timeout": 2}])
    fake_model.enqueue(Reply.of_text("Still here."))
    ws = await server.client()
    try:
        events = await ws.turn("hello", timeout=4 * UNIT)
    finally:
        await ws.close()
    warning = of_type(events, "warning")[0]
    assert warning["code"] == "mcp_unavailable" and "gone" in warning["message"]
    assert of_type(events, "done")[0]["status"] == "ok"


def test_configuration(tmp_path: Path) -> None:
    """Team file, MCP_SERVERS (JSON or a file), MCP_URL; exactly one transport; unique names."""
    stdio = parse_servers([{"name": "time", "command": "mcp-server-time"}], source="team")[0]
    assert stdio.transport == "stdio" and not stdio.trusted and stdio.timeout == 30
    with pytest.raises(ValueError, match="exactly one of"):
        parse_servers([{"name": "x", "command": "a", "url": "http://h/mcp"}], source="team")
    with pytest.raises(ValueError, match="exactly one of"):
        parse_servers([{"name": "x"}], source="team")
    with pytest.raises(ValueError, match="name"):
        parse_servers([{"name": "../x", "command": "a"}], source="team")
    with pytest.raises(ValueError, match="MCP_SERVERS is not valid JSON"):
        from_environment("[nope", None)
    listed = tmp_path / "servers.json"
    listed.write_text(
        json.dumps({"servers": [{"name": "docs", "url": "https://docs.example/mcp", "headers": {"X": "1"}}]})
    )
    from_file = from_environment(str(listed), "http://127.0.0.1:8165/mcp/")
    assert [(s.name, s.transport) for s in from_file] == [("docs", "streamable-http"), ("mcp", "streamable-http")]
    with pytest.raises(ValueError, match="two MCP servers"):
        merge([McpServerSpec(name="mcp", command="a")], from_file)
    assert tool_name("time", "get current/time") == "time__get_current_time"


async def test_hostile_servers_are_clear_errors_and_the_team_keeps_working(
    servers: Callable[..., Any], fake_model: FakeModelServer
) -> None:
    """A server whose tools/list hangs, one that answers an invalid tool list, a call that floods 1 MB,
    a server that dies mid-call: each a warning or a tool error; the other tools keep working."""
    server = await servers([
        {"name": "stuck", **fake_server("--hang-list"), "trusted": True, "timeout": 2},
        {"name": "odd", **fake_server("--bad-schema"), "trusted": True, "timeout": 5},
        {"name": "good", **fake_server(), "trusted": True, "timeout": 5},
    ])  # fmt: skip
    calls = {"flood": ("good__flood", {}), "die": ("good__die", {}), "echo": ("good__echo", {"text": "back"})}

    def respond(request: RecordedRequest) -> Reply:
        if SUMMARY_REQUEST_MARKER in str(request.messages[0].get("content")):
            return Reply.of_text("Earlier: tool calls.")  # the 1 MB result makes the context fold
        if request.messages[-1]["role"] == "user" and request.last_user in calls:
            return Reply.of_tool_call(*calls[request.last_user])
        return Reply.of_text("Done.")

    fake_model.responder = respond
    ws = await server.client()
    try:
        flood = await ws.turn("flood", timeout=6 * UNIT)
        sid = flood[0]["session_id"]
        died = await ws.turn("die", session_id=sid, timeout=6 * UNIT)
        back = await ws.turn("echo", session_id=sid, timeout=6 * UNIT)
    finally:
        await ws.close()
    warnings = " | ".join(w["message"] for w in of_type(flood, "warning") if w["code"] == "mcp_unavailable")
    assert "'stuck' did not list its tools within 2 s" in warnings
    assert "'odd' failed" in warnings and "invalid result" in warnings
    offered = {t["function"]["name"] for t in fake_model.chat_requests[0].body.get("tools", [])}
    assert "good__echo" in offered and "run_terminal_command" in offered
    assert not any(name.startswith(("stuck__", "odd__")) for name in offered)
    big = of_type(flood, "tool_result")[0]["content"]
    assert len(big) < 17_000 and "more characters cut" in big
    dead = of_type(died, "tool_result")[0]
    assert dead["is_error"] and "good" in dead["content"]
    assert of_type(died, "done")[0]["status"] == "ok"
    assert of_type(back, "tool_result")[0]["content"] == "echo: back"  # a fresh server process


def test_schemas_the_model_cannot_take_are_not_offered() -> None:
    assert (
        valid_schema({"name": "ok", "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}}) is None
    )
    assert valid_schema({"name": "ok"}) is None
    assert valid_schema({"name": ""}) == "it has no name"
    assert "not a JSON object schema" in str(valid_schema({"name": "a", "parameters": {"type": "string"}}))
    assert "not schemas" in str(valid_schema({"name": "a", "parameters": {"type": "object", "properties": {"x": 5}}}))


async def mcp_client_call(
    base: str, tool: str | None, arguments: dict[str, Any], headers: dict[str, str] | None = None
) -> Any:
    """The mcp SDK's own client against our /mcp: the tool list, or one call's result."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx.AsyncClient(headers=headers or {}, timeout=2 * UNIT) as http,
        streamable_http_client(base + "/mcp", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        if tool is None:
            return await session.list_tools()
        return await session.call_tool(tool, arguments)


async def test_our_tools_as_an_mcp_server(server: RunningServer) -> None:
    """/mcp serves a session's todos, reminders and sandbox tools to MCP clients (the SDK's own)."""
    listing = await mcp_client_call(server.http, None, {})
    names = {t.name for t in listing.tools}
    assert {"add_todo", "list_todos", "schedule_reminder", "sandbox_exec"} <= names
    assert "run_terminal_command" not in names and "ask_user_question" not in names
    add = next(t for t in listing.tools if t.name == "add_todo")
    assert add.inputSchema["required"][0] == "session_id"
    ws = await server.client()
    try:
        await ws.send(type="new")
        sid = (await ws.recv_until("session"))[-1]["session_id"]
        added = await mcp_client_call(server.http, "add_todo", {"session_id": sid, "title": "buy milk"})
        assert not added.isError and "buy milk" in added.content[0].text
        todos = (await ws.recv_until("todos"))[-1]  # the session's clients see it, as for the team's own calls
        assert [t["title"] for t in todos["todos"]] == ["buy milk"]
    finally:
        await ws.close()
    unknown = await mcp_client_call(server.http, "list_todos", {"session_id": "nosuchsession"})
    assert unknown.isError and "unknown session" in unknown.content[0].text
    bad = await mcp_client_call(server.http, "add_todo", {"session_id": sid})
    assert bad.isError


async def test_the_mcp_endpoint_needs_the_token(make_settings: Callable[..., Settings]) -> None:
    token = "t" * 24
    running = await RunningServer(make_settings(AUTH_TOKEN=token)).start()
    try:
        async with httpx.AsyncClient(base_url=running.http, timeout=2 * UNIT) as http:
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
            refused = await http.post("/mcp", json=body, headers={"Accept": "application/json, text/event-stream"})
            assert refused.status_code == 401
        listing = await mcp_client_call(running.http, None, {}, headers={"Authorization": f"Bearer {token}"})
        assert any(t.name == "add_todo" for t in listing.tools)
    finally:
        await running.stop()


async def test_tools_that_do_not_fit_the_budget_are_left_out_and_said(
    servers: Callable[..., Any], fake_model: FakeModelServer
) -> None:
    """A small window: the MCP tools would leave no room for the conversation; they are not offered,
    the warning and the context event say which, and no request exceeds the window."""
    fake_model.context_window = 2048
    server = await servers(
        [{"name": "fake", **fake_server(), "trusted": True}], CONTEXT_BUDGET="2048", CONTEXT_RESERVE="256"
    )
    fake_model.enqueue(Reply.of_text("Small window, fine."))
    ws = await server.client()
    try:
        events = await ws.turn("hello", timeout=4 * UNIT)
    finally:
        await ws.close()
    warning = next(w for w in of_type(events, "warning") if w["code"] == "tools_left_out")
    assert "fake__echo" in warning["message"] and warning["agent"] == "assistant"
    context = of_type(events, "context")[0]
    assert "fake__echo" in context["tools_left_out"]
    offered = {t["function"]["name"] for t in fake_model.chat_requests[0].body.get("tools", [])}
    assert not any(name.startswith("fake__") for name in offered)
    assert not [r for r in fake_model.chat_requests if r.rejected]
