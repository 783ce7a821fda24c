"""End to end over real websockets: turns stream, sessions are isolated, conversations continue."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from backend.settings import Settings
from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, RecordedRequest, Reply
from tests.support.client import UNIT, WsClient, of_type, text_of


async def test_turn_streams_deltas_then_response_then_done(server: RunningServer, client: WsClient) -> None:
    """A message gets session, user_message (ack), deltas, agent_message, response, done — in seq order."""
    events = await client.turn("hello world")
    types = [e["type"] for e in events]
    assert types[0] == "session" and types[1] == "user_message"
    assert "delta" in types
    assert types.index("response") < types.index("done")
    assert types[-1] == "done" and events[-1]["status"] == "ok"
    assert text_of(events) == "echo: hello world"
    assert of_type(events, "response")[0]["content"] == "echo: hello world"
    seqs = [e["seq"] for e in events if e["seq"] is not None]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))


async def test_second_turn_carries_the_first_upstream(
    server: RunningServer, client: WsClient, fake_model: FakeModelServer
) -> None:
    """The second turn of a session sends the first turn's exchange to the model."""
    await client.turn("my name is Ada")
    sid = client.seen[0]["session_id"]
    await client.turn("what is my name?", session_id=sid)
    last = fake_model.chat_requests[-1]
    assert "my name is Ada" in last.text
    assert "echo: my name is Ada" in last.text
    assert last.last_user == "what is my name?"


async def test_two_sessions_concurrently_are_isolated(server: RunningServer, fake_model: FakeModelServer) -> None:
    """Two sessions stream at the same time; neither's upstream requests contain the other's text."""

    def slow_echo(request: RecordedRequest) -> Reply:
        return Reply.of_text(f"echo: {request.last_user}", delay=0.01)

    fake_model.responder = slow_echo
    a, b = await server.client(), await server.client()
    try:
        turn_a, turn_b = await asyncio.gather(a.turn("alpha secret"), b.turn("bravo secret"))
        sid_a, sid_b = turn_a[0]["session_id"], turn_b[0]["session_id"]
        assert sid_a != sid_b
        assert text_of(turn_a) == "echo: alpha secret" and text_of(turn_b) == "echo: bravo secret"
        assert {e["session_id"] for e in turn_a} == {sid_a}
        # second turns, again concurrently, to make sure history stays per session
        turn_a2, turn_b2 = await asyncio.gather(
            a.turn("alpha again", session_id=sid_a), b.turn("bravo again", session_id=sid_b)
        )
        assert of_type(turn_a2, "done")[0]["status"] == of_type(turn_b2, "done")[0]["status"] == "ok"
    finally:
        await a.close()
        await b.close()
    for request in fake_model.chat_requests:
        assert not ("alpha" in request.text and "bravo" in request.text), request.text


async def test_message_while_running_is_queued_not_interleaved(
    server: RunningServer, client: WsClient, fake_model: FakeModelServer
) -> None:
    """A second message during a turn is acknowledged, reported as queued, and runs after the first."""
    fake_model.enqueue(Reply.of_text("first answer is slow", delay=0.05), Reply.of_text("second answer"))
    await client.send(type="message", content="one")
    await client.recv_until("delta")
    sid = client.seen[0]["session_id"]
    await client.send(type="message", content="two", session_id=sid)
    events = await client.recv_until(lambda e: e["type"] == "done" and e.get("status") == "ok", 4 * UNIT)
    events += await client.recv_until("done", 4 * UNIT)
    types = [e["type"] for e in events]
    assert "queued" in types
    responses = [e["content"] for e in of_type(events, "response")]
    assert responses == ["first answer is slow", "second answer"]
    first_done = types.index("done")
    assert all(e["type"] != "delta" or "second" not in e["content"] for e in events[:first_done])


async def test_resume_replays_and_continues_live(server: RunningServer, fake_model: FakeModelServer) -> None:
    """A second socket resuming from 0 gets every event once, with the same seqs, then live ones."""
    first = await server.client()
    events = await first.turn("remember me")
    sid = events[0]["session_id"]
    timeline = [e for e in events if e["seq"] is not None]
    second = await server.client()
    try:
        await second.send(type="resume", session_id=sid, last_seq=0)
        replay = await second.recv_until("resumed")
        replayed = [e for e in replay if e["seq"] is not None]
        assert [(e["seq"], e["type"]) for e in replayed] == [(e["seq"], e["type"]) for e in timeline]
        # both sockets now watch the session: a new turn from the first reaches the second
        await first.send(type="message", content="live now", session_id=sid)
        live = await second.recv_until("done")
        assert of_type(live, "response")[0]["content"] == "echo: live now"
    finally:
        await first.close()
        await second.close()


async def test_resume_from_a_seq_skips_what_the_client_has(server: RunningServer, client: WsClient) -> None:
    """resume with last_seq N replays only events after N."""
    events = await client.turn("one")
    sid = events[0]["session_id"]
    middle = events[len(events) // 2]["seq"]
    other = await server.client()
    try:
        await other.send(type="resume", session_id=sid, last_seq=middle)
        replay = [e for e in await other.recv_until("resumed") if e["seq"] is not None]
        assert replay and all(e["seq"] > middle for e in replay)
    finally:
        await other.close()


async def test_history_and_sessions_listing(server: RunningServer, client: WsClient) -> None:
    """history returns the timeline; sessions lists titles from the first message."""
    events = await client.turn("Plan my week please")
    sid = events[0]["session_id"]
    await client.send(type="history", session_id=sid)
    history = (await client.recv_until("history"))[-1]
    assert [e["seq"] for e in history["events"]] == [e["seq"] for e in events if e["seq"] is not None]
    await client.send(type="sessions")
    listing = (await client.recv_until("sessions"))[-1]["sessions"]
    assert listing[0]["session_id"] == sid and listing[0]["title"] == "Plan my week please"


async def test_reset_forgets_the_conversation(
    server: RunningServer, client: WsClient, fake_model: FakeModelServer
) -> None:
    """After reset, the next turn's upstream request no longer carries the earlier exchange."""
    events = await client.turn("the password is swordfish")
    sid = events[0]["session_id"]
    await client.send(type="reset", session_id=sid)
    await client.recv_until("reset")
    await client.turn("what was it?", session_id=sid)
    assert "swordfish" not in fake_model.chat_requests[-1].text


async def test_delete_removes_the_session(server: RunningServer, client: WsClient) -> None:
    """delete removes the session; using it afterwards is an unknown_session error."""
    events = await client.turn("short lived")
    sid = events[0]["session_id"]
    await client.send(type="delete", session_id=sid)
    await client.recv_until("deleted")
    await client.send(type="resume", session_id=sid, last_seq=0)
    error = (await client.recv_until("error"))[-1]
    assert error["code"] == "unknown_session"


async def test_ping_and_tools(server: RunningServer, client: WsClient) -> None:
    """ping gets pong; tools lists every tool with a schema and the agents that hold it."""
    await client.send(type="ping")
    assert (await client.recv())["type"] == "pong"
    await client.send(type="tools")
    tools = (await client.recv())["tools"]
    names = {t["name"] for t in tools}
    assert {"run_terminal_command", "add_todo", "schedule_reminder", "ask_user_question"} <= names
    assert all(t["parameters"]["type"] == "object" for t in tools)
    assert {tuple(t["agents"]) for t in tools} == {("assistant",)}


async def test_usage_is_reported_in_done(server: RunningServer, client: WsClient) -> None:
    """done carries the model's token usage (stream_options include_usage is requested)."""
    events = await client.turn("count my tokens")
    usage = of_type(events, "done")[0]["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0 and usage["reported"] is True
    context = of_type(events, "context")
    assert context and context[0]["budget"] == 4096 and context[0]["reserve"] == 512


async def test_every_request_asks_for_usage_and_caps_max_tokens(
    server: RunningServer, client: WsClient, fake_model: FakeModelServer
) -> None:
    """Upstream requests set max_tokens to the reserve, include_usage, and no message names."""
    await client.turn("hi")
    body = fake_model.chat_requests[-1].body
    assert body["max_tokens"] == 512
    assert body["stream_options"] == {"include_usage": True}
    assert all("name" not in m for m in body["messages"])
    assert json.dumps(body)  # the recorded request is plain JSON


async def test_plain_text_lines_continue_one_conversation(
    server: RunningServer, client: WsClient, fake_model: FakeModelServer
) -> None:
    """Typing line after line (websocat) stays in one session; a JSON message without id starts another."""
    await client.send_raw("my name is Grace")
    first = await client.recv_until("done")
    await client.send_raw("what is my name?")
    second = await client.recv_until("done")
    assert first[0]["session_id"] == second[-1]["session_id"]
    assert "my name is Grace" in fake_model.chat_requests[-1].text
    third = await client.turn("a new topic")
    assert third[0]["type"] == "session" and third[0]["session_id"] != first[0]["session_id"]


async def test_requests_carry_the_api_key(make_settings: Callable[..., Settings], fake_model: FakeModelServer) -> None:
    """LLM_API_KEY is sent as a bearer token on every model request."""
    running = await RunningServer(make_settings(LLM_API_KEY="sk-test-123")).start()
    ws = await running.client()
    try:
        await ws.turn("hi")
        assert fake_model.chat_requests[-1].headers["authorization"] == "Bearer sk-test-123"
    finally:
        await ws.close()
        await running.stop()


async def test_the_first_delta_of_a_reply_goes_out_on_its_own(
    server: RunningServer, client: WsClient, fake_model: FakeModelServer
) -> None:
    """The first delta event holds exactly the reply's first chunk; the rest follows (nothing lost)."""
    fake_model.enqueue(Reply.of_text("alpha beta gamma delta epsilon", chunk_chars=6))
    events = await client.turn("go")
    deltas = of_type(events, "delta")
    assert deltas[0]["content"] == "alpha "
    assert text_of(events) == "alpha beta gamma delta epsilon"
