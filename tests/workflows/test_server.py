"""Workflows through the real server: the HTTP API, /run in the chat, the run_workflow tool, human nodes."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import WsClient, of_type

from .examples import RETRIEVAL, SCORE_CHECK, chain

JSON = {"Content-Type": "application/json"}


async def _post(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return await http.post(path, json=body, headers=JSON)


async def test_acceptance_over_http(server: RunningServer) -> None:
    """POST the platform's example, POST a run, GET it: completed, 'Alice passed with score 7', low-path skipped."""
    async with httpx.AsyncClient(base_url=server.http) as http:
        created = await _post(http, "/v1/workflows", SCORE_CHECK)
        assert created.status_code == 201, created.text
        assert created.json()["id"] == "score-check" and created.json()["version"] == 1
        started = await _post(http, "/v1/workflows/score-check/runs", {"inputs": {}})
        assert started.status_code == 201, started.text
        run_id = started.json()["id"]
        await server.runtime.sessions.services.workflows.wait(run_id, timeout=10)  # type: ignore[union-attr]
        doc = (await http.get(f"/v1/runs/{run_id}")).json()
    assert doc["status"] == "completed"
    nodes = {n["node_id"]: n for n in doc["node_runs"]}
    assert nodes["high-path"]["output_text"] == "Alice passed with score 7"
    assert nodes["low-path"]["status"] == "skipped"
    assert doc["graph"]["nodes"][0]["id"] == "seed-state"
    async with httpx.AsyncClient(base_url=server.http) as http:
        listed = (await http.get("/v1/workflows/score-check/runs")).json()
    assert [r["id"] for r in listed["runs"]] == [run_id] and listed["runs"][0]["status"] == "completed"


async def test_http_definitions_and_errors(server: RunningServer) -> None:
    """Versions by ?version=, a listing, 400 naming the node for a bad DSL, 404 for unknown ids, 415 without JSON."""
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await _post(http, "/v1/workflows", RETRIEVAL)).status_code == 201
        changed = {**RETRIEVAL, "description": "second version"}
        assert (await _post(http, "/v1/workflows", changed)).json()["version"] == 2
        assert (await _post(http, "/v1/workflows", changed)).status_code == 200  # identical: no new version
        v1 = (await http.get("/v1/workflows/policy-lookup?version=1")).json()
        assert v1["version"] == 1 and v1["description"] == RETRIEVAL["description"]
        assert (await http.get("/v1/workflows/policy-lookup")).json()["version"] == 2
        listing = (await http.get("/v1/workflows")).json()["workflows"]
        assert [w["id"] for w in listing] == ["policy-lookup"]
        bad = chain("bad", [{"id": "x-1", "type": "warp", "config": {}}])
        refused = await _post(http, "/v1/workflows", bad)
        assert refused.status_code == 400
        assert refused.json()["code"] == "invalid_workflow" and "node 'x-1'" in refused.json()["error"]
        assert (await http.get("/v1/workflows/nope")).status_code == 404
        assert (await http.get("/v1/runs/nope")).status_code == 404
        assert (await _post(http, "/v1/workflows/nope/runs", {})).status_code == 404
        plain = await http.post("/v1/workflows", content=b"{}", headers={"Content-Type": "text/plain"})
        assert plain.status_code == 415


async def test_run_in_chat_streams_events(server: RunningServer, client: WsClient) -> None:
    """/run <workflow> in the chat: workflow_run with the graph, node_run events, the answer as response, done."""
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await _post(http, "/v1/workflows", SCORE_CHECK)).status_code == 201
    events = await client.turn("/run score-check", timeout=10)
    runs = of_type(events, "workflow_run")
    assert runs[0]["status"] == "running" and {n["id"] for n in runs[0]["graph"]["nodes"]} >= {"high-path", "low-path"}
    assert runs[-1]["status"] == "completed" and runs[-1]["answer"] == "Alice passed with score 7"
    statuses = {(e["node_id"], e["status"]) for e in of_type(events, "node_run")}
    assert ("high-path", "completed") in statuses and ("low-path", "skipped") in statuses
    assert of_type(events, "response")[-1]["content"] == "Alice passed with score 7"
    assert events[-1]["type"] == "done" and events[-1]["status"] == "ok"


async def test_run_command_errors_end_the_turn(server: RunningServer, client: WsClient) -> None:
    """An unknown workflow or malformed inputs end the /run turn with a clear error, not a model call."""
    events = await client.turn("/run nothing-here", timeout=10)
    assert "no workflow 'nothing-here'" in of_type(events, "error")[0]["message"]
    assert events[-1]["status"] == "error"
    events = await client.turn('/run score-check {"a":', timeout=10)
    assert "JSON object" in of_type(events, "error")[0]["message"]


async def test_human_node_waits_for_the_answer(server: RunningServer, client: WsClient) -> None:
    """A human node asks through the question mechanism; the answer continues the run."""
    example = chain(
        "ask-name",
        [
            {"id": "ask", "type": "human", "config": {"question": "Your name?"}},
            {"id": "greet", "type": "answer", "config": {"text": "Hello {{ nodes.ask.text }}"}},
        ],
    )
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await _post(http, "/v1/workflows", example)).status_code == 201
    await client.send(type="message", content="/run ask-name")
    events = await client.recv_until("question", timeout=10)
    question = of_type(events, "question")[0]
    await client.send(
        type="answer", session_id=question["session_id"], question_id=question["question_id"], content="Ada"
    )
    events = await client.recv_until("done", timeout=10)
    assert of_type(events, "response")[-1]["content"] == "Hello Ada"


async def test_run_workflow_tool(server: RunningServer, client: WsClient, fake_model: FakeModelServer) -> None:
    """An agent calls run_workflow; the run's events stream into the turn and the answer comes back to the model."""
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await _post(http, "/v1/workflows", SCORE_CHECK)).status_code == 201
    fake_model.enqueue(
        Reply.of_tool_call("run_workflow", {"workflow": "score-check"}), Reply.of_text("It says Alice passed.")
    )
    events = await client.turn("check the score", timeout=10)
    results = [e for e in of_type(events, "tool_result") if e["name"] == "run_workflow"]
    assert results and results[0]["content"] == "Alice passed with score 7" and not results[0]["is_error"]
    assert of_type(events, "workflow_run")[-1]["status"] == "completed"
    assert "Alice passed with score 7" in fake_model.chat_requests[-1].text


async def test_llm_node_uses_the_model(server: RunningServer, fake_model: FakeModelServer) -> None:
    """An llm node makes one call through the shared client with max_tokens capped at the reserve."""
    example = chain(
        "summarize",
        [
            {
                "id": "draft",
                "type": "llm",
                "config": {"system_prompt": "Be brief.", "prompt": "Say hi to {{ inputs.name }}", "max_tokens": 100000},
            }
        ],
    )
    fake_model.enqueue(Reply.of_text("Hi Bob"))
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await _post(http, "/v1/workflows", example)).status_code == 201
        run_id = (await _post(http, "/v1/workflows/summarize/runs", {"inputs": {"name": "Bob"}})).json()["id"]
        await server.runtime.sessions.services.workflows.wait(run_id, timeout=10)  # type: ignore[union-attr]
        doc = (await http.get(f"/v1/runs/{run_id}")).json()
    assert doc["status"] == "completed" and doc["answer"] == "Hi Bob"
    request = fake_model.chat_requests[-1]
    assert request.messages[-1]["content"] == "Say hi to Bob"
    assert request.body["max_tokens"] <= server.settings.context_reserve


async def test_agent_node_streams_into_the_session(
    server: RunningServer, client: WsClient, fake_model: FakeModelServer
) -> None:
    """An agent node runs the team on its prompt: its messages are on the timeline, its answer is the node's text."""
    example = chain(
        "ask-team",
        [
            {"id": "think", "type": "agent", "config": {"prompt": "Name a colour for {{ inputs.who }}"}},
            {"id": "out", "type": "answer", "config": {"text": "Team said: {{ nodes.think.text }}"}},
        ],
    )
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await _post(http, "/v1/workflows", example)).status_code == 201
    fake_model.enqueue(Reply.of_text("Teal."))
    events = await client.turn('/run ask-team {"who": "Ada"}', timeout=10)
    assert "Name a colour for Ada" in fake_model.chat_requests[-1].last_user
    assert [e["content"] for e in of_type(events, "agent_message")] == ["Teal."]
    assert of_type(events, "response")[-1]["content"] == "Team said: Teal."


async def test_builtin_tool_node(server: RunningServer, client: WsClient) -> None:
    """A tool node calls a built-in tool (add_todo) in the run's session: the todo exists, its result is the output."""
    example = chain(
        "todo",
        [
            {"id": "add", "type": "tool", "config": {"tool": "add_todo", "arguments": {"title": "{{ inputs.item }}"}}},
            {"id": "bad", "type": "tool", "config": {"tool": "add_todo", "arguments": {"nope": 1}}},
        ],
    )
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await _post(http, "/v1/workflows", example)).status_code == 201
    events = await client.turn('/run todo {"item": "Buy milk"}', timeout=10)
    assert any("Buy milk" in str(t["title"]) for e in of_type(events, "todos") for t in e["todos"])
    finished = of_type(events, "workflow_run")[-1]
    assert finished["status"] == "failed" and "node 'bad'" in finished["error"] and "bad arguments" in finished["error"]


async def test_reminder_runs_a_workflow(server: RunningServer, client: WsClient) -> None:
    """A reminder whose message is '/run <workflow>' starts that run in its session when it fires."""
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await _post(http, "/v1/workflows", SCORE_CHECK)).status_code == 201
    await client.send(type="new")
    sid = (await client.recv_until("session"))[-1]["session_id"]
    await client.send(type="reminder_add", when="in 1 second", message="/run score-check", session_id=sid)
    events = await client.recv_until(lambda e: e["type"] == "workflow_run" and e["status"] == "completed", timeout=10)
    assert of_type(events, "reminder")[0]["message"] == "/run score-check"
    assert of_type(events, "workflow_run")[-1]["answer"] == "Alice passed with score 7"


async def test_stop_cancels_a_running_workflow(server: RunningServer, client: WsClient) -> None:
    """Stop during /run cancels the run: the waiting node fails as cancelled, its question closes, done is cancelled."""
    example = chain("wait-stop", [{"id": "ask", "type": "human", "config": {"question": "Still there?"}}])
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await _post(http, "/v1/workflows", example)).status_code == 201
    await client.send(type="message", content="/run wait-stop")
    question = of_type(await client.recv_until("question", timeout=10), "question")[0]
    await client.send(type="stop", session_id=question["session_id"])
    events = await client.recv_until("done", timeout=10)
    assert events[-1]["status"] == "cancelled"
    assert of_type(events, "workflow_run")[-1]["status"] == "cancelled"
    closed = of_type(events, "question_closed")
    assert closed and closed[0]["question_id"] == question["question_id"] and closed[0]["status"] == "cancelled"


async def test_human_node_survives_a_restart_without_asking_twice(server: RunningServer) -> None:
    """Restart while a human node waits: the run resumes, the same question is answered, no second question."""
    example = chain(
        "ask-restart",
        [
            {"id": "ask", "type": "human", "config": {"question": "Your name?"}},
            {"id": "greet", "type": "answer", "config": {"text": "Hello {{ nodes.ask.text }}"}},
        ],
    )
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await _post(http, "/v1/workflows", example)).status_code == 201
    client = await server.client()
    await client.send(type="message", content="/run ask-restart")
    question = of_type(await client.recv_until("question", timeout=10), "question")[0]
    sid = question["session_id"]
    await client.close()
    await server.stop()
    await server.start()
    client = await server.client()
    try:
        await client.send(type="resume", session_id=sid, last_seq=question["seq"])
        await client.recv_until("resumed", timeout=10)
        await client.send(type="answer", session_id=sid, question_id=question["question_id"], content="Ada")
        events = await client.recv_until(lambda e: e["type"] == "workflow_run" and e["status"] != "running", timeout=10)
    finally:
        await client.close()
    assert events[-1]["status"] == "completed" and events[-1]["answer"] == "Hello Ada"
    assert of_type(events, "question") == []


async def test_hostile_definitions_over_http(server: RunningServer) -> None:
    """A 10,000-node graph and an unbounded loop are refused at save time with 400 naming the problem."""
    nodes = [{"id": f"n{i}", "type": "answer", "config": {"text": "x"}} for i in range(10_000)]
    edges = [{"source": f"n{i}", "target": f"n{i + 1}"} for i in range(9_999)]
    loop = {
        "nodes": [
            {"id": "a", "type": "assigner", "config": {"assignments": {"x": 1}}},
            {"id": "b", "type": "assigner", "config": {"assignments": {"x": 2}}},
            {"id": "c", "type": "assigner", "config": {"assignments": {"x": 3}}},
        ],
        "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "c"}, {"source": "c", "target": "b"}],
    }
    async with httpx.AsyncClient(base_url=server.http) as http:
        big = await _post(http, "/v1/workflows", {"name": "huge", "dsl": {"nodes": nodes, "edges": edges}})
        assert big.status_code == 400, big.text  # ~1 MB: under MAX_BODY_BYTES, refused by validation
        assert "10000 nodes; at most 500" in big.json()["error"]
        endless = await _post(http, "/v1/workflows", {"name": "endless", "dsl": loop})
        assert endless.status_code == 400 and "has no exit" in endless.json()["error"]
        assert (await http.get("/v1/workflows")).json()["workflows"] == []
