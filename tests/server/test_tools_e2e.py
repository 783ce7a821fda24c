"""Every tool through the real server and the scripted model: events, persistence, clear errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from backend.settings import Settings
from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import UNIT, WsClient, of_type


async def tool_turn(
    client: WsClient, fake: FakeModelServer, name: str, args: dict[str, object], **fields: object
) -> list[dict[str, object]]:
    fake.enqueue(Reply.of_tool_call(name, args), Reply.of_text("Done."))
    return await client.turn(f"please use {name}", **fields)


async def test_todo_tool_events_and_persistence(server: RunningServer, fake_model: FakeModelServer) -> None:
    """add_todo from the model: tool_call, tool_result, a live todos event; the list survives a restart."""
    ws = await server.client()
    events = await tool_turn(ws, fake_model, "add_todo", {"title": "Buy milk", "priority": "high"})
    call = of_type(events, "tool_call")[0]
    result = of_type(events, "tool_result")[0]
    assert call["name"] == "add_todo" and call["arguments"]["title"] == "Buy milk"
    assert result["id"] == call["id"] and result["is_error"] is False and "Buy milk" in result["content"]
    assert result["duration_ms"] is not None
    todos = of_type(events, "todos")[-1]["todos"]
    assert [t["title"] for t in todos] == ["Buy milk"]
    # the model saw the tool result in its next request
    assert "Buy milk" in fake_model.chat_requests[-1].text
    sid = events[0]["session_id"]
    await ws.close()

    await server.stop()
    await server.start()
    ws = await server.client()
    await ws.send(type="resume", session_id=sid, last_seq=0)
    await ws.recv_until("resumed")
    await ws.send(type="todo_list", session_id=sid)
    listing = await ws.recv_until("todos")
    assert [t["title"] for t in listing[-1]["todos"]] == ["Buy milk"]
    await ws.close()


async def test_bad_tool_arguments_are_a_clear_error_the_model_sees(
    server: RunningServer, client: WsClient, fake_model: FakeModelServer
) -> None:
    """Wrong argument types or unknown ids give an is_error result, and the turn still completes."""
    events = await tool_turn(client, fake_model, "complete_todo", {"todo_id": "not-a-number"})
    result = of_type(events, "tool_result")[0]
    assert result["is_error"] is True and "todo_id" in result["content"]
    assert of_type(events, "done")[0]["status"] == "ok"
    sid = events[0]["session_id"]
    events = await tool_turn(client, fake_model, "complete_todo", {"todo_id": 999}, session_id=sid)
    result = of_type(events, "tool_result")[0]
    assert result["is_error"] is True and "999" in result["content"]
    assert "999" in fake_model.chat_requests[-1].text  # the error reached the model


async def test_unknown_tool_name_is_an_error_result(
    server: RunningServer, client: WsClient, fake_model: FakeModelServer
) -> None:
    """A model calling a tool that does not exist gets an error result, not a crash."""
    events = await tool_turn(client, fake_model, "launch_rocket", {})
    assert of_type(events, "tool_result")[0]["is_error"] is True
    assert of_type(events, "done")[0]["status"] == "ok"


async def test_client_todo_messages_without_the_model(
    server: RunningServer, client: WsClient, fake_model: FakeModelServer
) -> None:
    """todo_add/update/complete/delete over the socket change the list and emit todos events."""
    await client.send(type="new")
    sid = (await client.recv_until("session"))[-1]["session_id"]
    before = len(fake_model.chat_requests)
    await client.send(type="todo_add", title="Write docs", session_id=sid)
    todos = (await client.recv_until("todos"))[-1]["todos"]
    todo_id = todos[0]["id"]
    await client.send(type="todo_update", todo_id=todo_id, title="Write better docs", session_id=sid)
    assert (await client.recv_until("todos"))[-1]["todos"][0]["title"] == "Write better docs"
    await client.send(type="todo_complete", todo_id=todo_id, session_id=sid)
    assert (await client.recv_until("todos"))[-1]["todos"][0]["status"] == "done"
    await client.send(type="todo_delete", todo_id=todo_id, session_id=sid)
    assert (await client.recv_until("todos"))[-1]["todos"] == []
    await client.send(type="todo_complete", todo_id=todo_id, session_id=sid)
    assert (await client.recv_until("error"))[-1]["code"] == "tool_error"
    assert len(fake_model.chat_requests) == before


async def test_reminder_fires_to_an_attached_client(server: RunningServer, client: WsClient) -> None:
    """A reminder "in 2 seconds" reaches the attached client within 3 s."""
    await client.send(type="new", tz="Asia/Shanghai")
    sid = (await client.recv_until("session"))[-1]["session_id"]
    await client.send(type="reminder_add", when="in 2 seconds", message="stretch", session_id=sid)
    done = await client.recv_until("tool_done")
    assert "Asia/Shanghai" in done[-1]["result"]
    fired = (await client.recv_until("reminder", timeout=2 * UNIT))[-1]
    assert fired["message"] == "stretch" and fired["late"] is False, "delivered on time, not as a late reminder"
    remaining = (await client.recv_until("reminders"))[-1]["reminders"]
    assert remaining == []  # the one-shot reminder left the scheduled list


async def test_reminder_while_detached_is_delivered_once_on_resume(server: RunningServer) -> None:
    """Scheduled with no client attached: delivered on resume, and only once per client."""
    ws = await server.client()
    await ws.send(type="new")
    sid = (await ws.recv_until("session"))[-1]["session_id"]
    await ws.send(type="reminder_add", when="in 1 second", message="tea", session_id=sid)
    await ws.recv_until("tool_done")
    await ws.close()
    await asyncio.sleep(2.0)
    again = await server.client()
    await again.send(type="resume", session_id=sid, last_seq=0)
    replay = await again.recv_until("resumed")
    fired = of_type(replay, "reminder")
    assert [r["message"] for r in fired] == ["tea"]
    last = replay[-1]["last_seq"]
    await again.close()
    third = await server.client()
    await third.send(type="resume", session_id=sid, last_seq=last)
    assert of_type(await third.recv_until("resumed"), "reminder") == []
    await third.close()


async def test_reminder_scheduled_before_a_restart_fires_after_it(server: RunningServer) -> None:
    """A reminder survives a restart and fires afterwards (marked late if it was due while down)."""
    ws = await server.client()
    await ws.send(type="new")
    sid = (await ws.recv_until("session"))[-1]["session_id"]
    await ws.send(type="reminder_add", when="in 2 seconds", message="after restart", session_id=sid)
    await ws.recv_until("tool_done")
    await ws.close()
    await server.stop()
    await asyncio.sleep(2.5)
    await server.start()
    ws = await server.client()
    await ws.send(type="resume", session_id=sid, last_seq=0)
    events = await ws.recv_until(lambda e: e["type"] == "reminder", timeout=2 * UNIT)
    assert events[-1]["message"] == "after restart" and events[-1]["late"] is True
    await ws.close()


async def test_explicit_terminal_mode_needs_no_model(
    server: RunningServer, client: WsClient, fake_model: FakeModelServer
) -> None:
    """`!ls` lists the workdir without any model request; the model sees it on the next turn."""
    workdir = server.settings.agent_workdir
    (workdir / "notes.txt").write_text("hello")
    before = len(fake_model.chat_requests)
    events = await client.turn("!ls")
    assert len(fake_model.chat_requests) == before
    result = of_type(events, "tool_result")[0]
    assert "notes.txt" in result["content"] and result["is_error"] is False
    assert "notes.txt" in of_type(events, "response")[0]["content"]
    assert of_type(events, "done")[0]["status"] == "ok"
    sid = events[0]["session_id"]
    await client.turn("what files are there?", session_id=sid)
    assert "notes.txt" in fake_model.chat_requests[-1].text


async def test_explicit_modes_chinese_and_refusal(server: RunningServer, client: WsClient) -> None:
    """执行命令/查看文件 run directly; `!rm -rf /` is refused and nothing is deleted."""
    workdir = server.settings.agent_workdir
    (workdir / "README.md").write_text("# Title\n")
    events = await client.turn("查看文件 README.md")
    assert "# Title" in of_type(events, "tool_result")[0]["content"]
    sid = events[0]["session_id"]
    events = await client.turn("执行命令：pwd", session_id=sid)
    assert str(workdir) in of_type(events, "tool_result")[0]["content"]
    events = await client.turn("!rm -rf /", session_id=sid)
    result = of_type(events, "tool_result")[0]
    assert result["is_error"] is True and "refused" in result["content"]
    assert (workdir / "README.md").exists()


async def test_ask_user_question_round_trip(
    server: RunningServer, client: WsClient, fake_model: FakeModelServer
) -> None:
    """The tool emits a question, waits, and the answer becomes its result and reaches the model."""
    fake_model.enqueue(
        Reply.of_tool_call("ask_user_question", {"question": "Which colour?", "options": ["red", "blue"]}),
        Reply.of_text("Blue it is."),
    )
    await client.send(type="message", content="paint it")
    question = (await client.recv_until("question"))[-1]
    assert question["content"] == "Which colour?" and question["options"] == ["red", "blue"]
    assert question["timeout_s"] == 600 and question["expires_at"] > question["ts"], "a default limit, stated"
    await client.send(type="answer", question_id=question["question_id"], content="blue")
    events = await client.recv_until("done")
    assert of_type(events, "question_closed")[0]["answer"] == "blue"
    assert "blue" in of_type(events, "tool_result")[0]["content"]
    assert of_type(events, "response")[0]["content"] == "Blue it is."
    assert "The user answered: blue" in fake_model.chat_requests[-1].text


async def test_pending_question_is_shown_on_resume_and_stop_cancels_it(
    server: RunningServer, client: WsClient, fake_model: FakeModelServer
) -> None:
    """A reconnecting client sees the pending question; stop cancels it cleanly."""
    fake_model.enqueue(Reply.of_tool_call("ask_user_question", {"question": "Proceed?"}))
    await client.send(type="message", content="do the risky thing")
    question = (await client.recv_until("question"))[-1]
    sid = question["session_id"]
    other = await server.client()
    await other.send(type="resume", session_id=sid, last_seq=0)
    state = (await other.recv_until("session"))[-1]
    assert [q["question_id"] for q in state["pending_questions"]] == [question["question_id"]]
    await other.close()
    await client.send(type="stop", session_id=sid)
    events = await client.recv_until("done")
    assert of_type(events, "question_closed")[0]["status"] == "cancelled"
    assert events[-1]["status"] == "cancelled"
    events = await client.turn("never mind", session_id=sid)
    assert of_type(events, "done")[0]["status"] == "ok"


async def test_question_answered_after_a_restart_becomes_the_next_message(
    server: RunningServer, fake_model: FakeModelServer
) -> None:
    """After a restart, answering a pending question delivers it to the team with the question quoted."""
    fake_model.enqueue(Reply.of_tool_call("ask_user_question", {"question": "Favourite number?"}))
    ws = await server.client()
    await ws.send(type="message", content="guess my number")
    question = (await ws.recv_until("question"))[-1]
    sid = question["session_id"]
    await ws.close()
    await server.stop()
    await server.start()
    ws = await server.client()
    await ws.send(type="resume", session_id=sid, last_seq=0)
    state = (await ws.recv_until("resumed"))[0]
    assert state["pending_questions"][0]["question_id"] == question["question_id"]
    await ws.send(type="answer", question_id=question["question_id"], content="seven", session_id=sid)
    events = await ws.recv_until("done")
    assert of_type(events, "done")[0]["status"] == "ok"
    assert 'Answer to your earlier question "Favourite number?": seven' in fake_model.chat_requests[-1].last_user
    await ws.close()


async def test_tool_listing_names_the_holding_agents_in_the_default_team(
    make_settings: Callable[..., Settings],
) -> None:
    """With the multi-agent team, each tool lists the specialist that holds it."""
    running = await RunningServer(make_settings(TEAM="default")).start()
    ws = await running.client()
    try:
        await ws.send(type="tools")
        tools = {t["name"]: t["agents"] for t in (await ws.recv())["tools"]}
        assert tools["run_terminal_command"] == ["operator"]
        assert tools["add_todo"] == ["planner"]
        assert tools["ask_user_question"] == ["assistant"]
    finally:
        await ws.close()
        await running.stop()


async def test_an_unanswered_question_expires_and_the_queue_moves_on(
    make_settings: Callable[..., Settings], fake_model: FakeModelServer
) -> None:
    """With QUESTION_TIMEOUT the question closes as expired, the tool gives up, and the turn ends."""
    running = await RunningServer(make_settings(QUESTION_TIMEOUT="0.2")).start()
    client = await running.client()
    try:
        fake_model.enqueue(Reply.of_tool_call("ask_user_question", {"question": "Proceed?"}), Reply.of_text("Ok."))
        await client.send(type="message", content="ask me")
        events = await client.recv_until("done", timeout=10 * UNIT)
        assert of_type(events, "question_closed")[0]["status"] == "expired"
        assert "did not answer" in of_type(events, "tool_result")[0]["content"]
        assert of_type(events, "done")[0]["status"] == "ok"
    finally:
        await client.close()
        await running.stop()
