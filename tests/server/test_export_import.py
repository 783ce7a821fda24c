"""Session export (JSON, Markdown) and import, against a real server on port 0 and the scripted model."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from markdown_it import MarkdownIt

from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import UNIT, WsClient, of_type

FACT = "my cat is called Zephyrine"
CHINESE = "请用中文解释一下递归。"
CODE_REPLY = "Here you go:\n\n```python\nprint('```')  # backticks inside\n```\n\n递归就是函数调用自身。"


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http, timeout=2 * UNIT) as client:
        yield client


@pytest.fixture
async def ws(server: RunningServer) -> AsyncIterator[WsClient]:
    client = await server.client()
    try:
        yield client
    finally:
        await client.close()


async def history(http: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    response = await http.get(f"/v1/sessions/{sid}/history")
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


async def conversation(ws: WsClient, fake: FakeModelServer) -> str:
    """A session with a fact, a tool call that adds a todo, code blocks and Chinese text; its id."""
    fake.enqueue(Reply.of_text("Noted, Zephyrine it is."))
    first = await ws.turn(f"Remember this: {FACT}.")
    sid = str(first[-1]["session_id"])
    fake.enqueue(Reply.of_tool_call("add_todo", {"title": "Feed ```Zephyrine```", "priority": "high"}))
    fake.enqueue(Reply.of_text("Added the todo."))
    await ws.turn("Add a todo to feed her.", session_id=sid)
    fake.enqueue(Reply.of_text(CODE_REPLY))
    await ws.turn(f"{CHINESE}\n\n```\nunclosed block from the user", session_id=sid)
    return sid


def without_envelope(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("session_id", "seq")}


async def test_export_import_and_the_team_continues(
    http: httpx.AsyncClient, ws: WsClient, fake_model: FakeModelServer
) -> None:
    """Export → import gives a new session with the same timeline and todos; its next turn's upstream
    request carries the imported history (a fact said only in the original session)."""
    sid = await conversation(ws, fake_model)
    exported = await http.get(f"/v1/sessions/{sid}/export")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/json")
    assert "attachment" in exported.headers["content-disposition"]
    document = exported.json()
    assert document["format"] == "agentchat-session" and document["version"] == 1
    assert document["session"]["id"] == sid and document["session"]["title"].startswith("Remember this")
    original = await history(http, sid)
    assert document["events"] == original
    assert [t["title"] for t in document["todos"]] == ["Feed ```Zephyrine```"]

    imported = await http.post("/v1/sessions/import", json=document)
    assert imported.status_code == 201, imported.text
    body = imported.json()
    new_id = body["session_id"]
    assert new_id != sid and body["imported_from"] == sid and body["events"] == len(original)
    assert 0 < body["context_tokens"] <= 1024
    copied = await history(http, new_id)
    assert [e["seq"] for e in copied] == list(range(1, len(original) + 1))
    assert {e["session_id"] for e in copied} == {new_id}
    assert [without_envelope(e) for e in copied] == [without_envelope(e) for e in original]
    again = (await http.get(f"/v1/sessions/{new_id}/export")).json()
    assert [(t["title"], t["priority"], t["status"]) for t in again["todos"]] == [
        ("Feed ```Zephyrine```", "high", "open")
    ]

    before = len(fake_model.chat_requests)
    fake_model.enqueue(Reply.of_text("Her name is Zephyrine."))
    events = await ws.turn("What is my cat called?", session_id=new_id)
    assert of_type(events, "done")[-1]["status"] == "ok"
    request = fake_model.chat_requests[before]
    assert FACT in request.text and "imported from an export" in request.text
    assert request.last_user == "What is my cat called?"
    assert of_type(events, "user_message")[0]["seq"] == len(original) + 1
    # the note was consumed by that turn: it stays in the team's context once, not added again
    fake_model.enqueue(Reply.of_text("ok"))
    await ws.turn("thanks", session_id=new_id)
    assert fake_model.chat_requests[-1].text.count("imported from an export") == 1


def fences(markdown: str) -> list[str]:
    return [token.content for token in MarkdownIt("commonmark").parse(markdown) if token.type == "fence"]


def headings(markdown: str) -> list[str]:
    """The text of each level-3 heading (code spans unwrapped)."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    inline = [tokens[i + 1] for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h3"]
    return ["".join(child.content for child in token.children or []) for token in inline]


async def test_markdown_export_reads_like_the_chat(
    http: httpx.AsyncClient, ws: WsClient, fake_model: FakeModelServer
) -> None:
    """The Markdown transcript parses with balanced fences: every message and tool block is its own
    block (code with ``` inside stays inside), Chinese text is intact, agents are named."""
    sid = await conversation(ws, fake_model)
    response = await http.get(f"/v1/sessions/{sid}/export", params={"format": "markdown"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    text = response.text
    assert CHINESE in text and "递归就是函数调用自身。" in text
    titles = headings(text)
    assert [t.split(" · ")[0] for t in titles] == [
        "User",
        "assistant",
        "User",
        "Tool call add_todo by assistant",
        "Tool result add_todo",
        "assistant",
        "User",
        "assistant",
    ]
    blocks = fences(text)
    assert "print('```')  # backticks inside\n" in blocks  # the model's code block, whole
    assert "unclosed block from the user\n" in blocks  # the user's open block was closed at its end
    call = next(b for b in blocks if '"title"' in b)
    assert json.loads(call) == {"title": "Feed ```Zephyrine```", "priority": "high"}
    assert any("Feed ```Zephyrine```" in b for b in blocks if b is not call)  # the tool result
    assert "- [ ] Feed ```Zephyrine```" in text


async def test_export_of_an_unknown_session_or_format(http: httpx.AsyncClient, ws: WsClient) -> None:
    """Unknown session → 404 (JSON and Markdown); an unknown format → 400."""
    for params in ({}, {"format": "markdown"}):
        response = await http.get("/v1/sessions/nope/export", params=params)
        assert response.status_code == 404 and response.json()["code"] == "unknown_session"
    await ws.send(type="new")
    sid = (await ws.recv_until("session"))[-1]["session_id"]
    bad = await http.get(f"/v1/sessions/{sid}/export", params={"format": "pdf"})
    assert bad.status_code == 400


def valid_document() -> dict[str, Any]:
    return {
        "format": "agentchat-session",
        "version": 1,
        "exported_at": 1764800000.0,
        "session": {"id": "orig", "title": "t", "timezone": "Europe/Paris", "created_at": 1764800000.0},
        "events": [
            {"type": "user_message", "session_id": "orig", "seq": 1, "ts": 1764800001.0, "content": "hi"},
            {"type": "response", "session_id": "orig", "seq": 2, "ts": 1764800002.0, "content": "hello", "agent": "a"},
            {"type": "done", "session_id": "orig", "seq": 3, "ts": 1764800003.0, "status": "ok", "usage": {}},
        ],
        "context": {"budget": 4096, "summaries": [{"agent": "a", "summary": "they said hi"}]},
        "todos": [{"title": "x", "priority": "normal", "status": "done"}],
    }


def hostile_documents() -> Iterator[tuple[str, Any, str]]:
    """(what, document, expected error code) — each must be refused with 400."""

    def changed(path: str, value: Any) -> dict[str, Any]:
        doc = copy.deepcopy(valid_document())
        target: Any = doc
        *parents, last = path.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is DELETE:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
        return doc

    yield "not an object", [1, 2, 3], "bad_import"
    yield "wrong format", changed("format", "chatgpt-export"), "bad_format"
    yield "no format", changed("format", DELETE), "bad_format"
    yield "wrong version", changed("version", 2), "bad_version"
    yield "version as string", changed("version", "1"), "bad_version"
    yield "version true", changed("version", True), "bad_version"
    yield "events not a list", changed("events", {"0": {}}), "bad_import"
    yield "event not an object", changed("events.1", "hello"), "bad_import"
    yield "out of order", changed("events.1.seq", 5), "events_out_of_order"
    yield "duplicate seq", changed("events.2.seq", 2), "events_out_of_order"
    yield "unknown type", changed("events.1.type", "exec_shell"), "unknown_event_type"
    yield "content not a string", changed("events.0.content", {"$ne": 1}), "bad_import"
    yield "missing content", changed("events.1.content", DELETE), "bad_import"
    yield "seq a string", changed("events.0.seq", "1"), "bad_import"
    yield "ts missing", changed("events.0.ts", DELETE), "bad_import"
    yield (
        "is_error a string",
        {
            **valid_document(),
            "events": [{"type": "tool_result", "seq": 1, "ts": 1.0, "content": "x", "is_error": "no"}],
        },
        "bad_import",
    )
    yield "oversized content", changed("events.0.content", "x" * 1_000_001), "too_large"
    yield "oversized nested string", changed("events.2.usage", {"k": ["y" * 1_000_001]}), "too_large"
    yield "oversized agent", changed("events.1.agent", "a" * 201), "too_large"
    yield "oversized title", changed("session.title", "t" * 201), "too_large"
    yield "oversized summary", changed("context.summaries.0.summary", "s" * 200_001), "too_large"
    yield "todo bad status", changed("todos.0.status", "maybe"), "bad_import"
    yield "todo title missing", changed("todos.0.title", DELETE), "bad_import"
    yield "session not an object", changed("session", "orig"), "bad_import"


DELETE = object()


async def test_hostile_imports_get_a_clear_400_and_create_nothing(http: httpx.AsyncClient) -> None:
    """Invalid JSON, non-objects, wrong format/version, events out of order, duplicate seqs,
    unknown event types, wrong field types and oversized fields: 400 each, no session created."""
    before = (await http.get("/v1/sessions")).json()["sessions"]
    raw_cases = [
        (b'{"format": "agentchat-session", "version": 1, "events": [', "bad_json"),
        (b"\xff\xfe not utf-8", "bad_json"),
        (b"[" * 100 + b"]" * 100, "bad_json"),
        (b'"just a string"', "bad_import"),
    ]
    headers = {"content-type": "application/json"}
    for raw, code in raw_cases:
        response = await http.post("/v1/sessions/import", content=raw, headers=headers)
        assert response.status_code == 400 and response.json()["code"] == code, (raw[:40], response.text)
    for what, document, code in hostile_documents():
        response = await http.post("/v1/sessions/import", json=document)
        assert response.status_code == 400, (what, response.text)
        assert response.json()["code"] == code, (what, response.text)
        assert response.json()["error"], what
    text = await http.post("/v1/sessions/import", content=b"{}", headers={"content-type": "text/plain"})
    assert text.status_code == 415
    assert (await http.get("/v1/sessions")).json()["sessions"] == before
    ok = await http.post("/v1/sessions/import", json=valid_document())  # the same document, well formed
    assert ok.status_code == 201, ok.text
    assert len((await http.get("/v1/sessions")).json()["sessions"]) == len(before) + 1


async def raw_post(port: int, headers: str) -> str:
    """Send only a request head; the first line of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(headers.encode())
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), UNIT)).decode()
    finally:
        writer.close()


async def test_a_50_mb_file_is_413_and_creates_nothing(server: RunningServer, http: httpx.AsyncClient) -> None:
    """A 50 MB declared body is refused before it is read; a chunked body past IMPORT_MAX_BYTES is
    refused while it arrives; a body over MAX_BODY_BYTES but under IMPORT_MAX_BYTES is accepted."""
    head = (
        "POST /v1/sessions/import HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {50 * 1000 * 1000}\r\n\r\n"
    )
    assert " 413 " in await raw_post(server.settings.port, head)
    limit = server.settings.import_max_bytes

    async def chunks() -> AsyncIterator[bytes]:
        piece = b" " * (1024 * 1024)
        for _ in range(limit // len(piece) + 2):
            yield piece

    chunked = await http.post("/v1/sessions/import", content=chunks(), headers={"content-type": "application/json"})
    assert chunked.status_code == 413 and chunked.json()["code"] == "too_large"
    assert (await http.get("/v1/sessions")).json()["sessions"] == []
    big = valid_document()
    for event in big["events"][:2]:
        event["content"] = "z" * (server.settings.max_body_bytes // 2 + 10)  # two long replies: over 1 MiB
    accepted = await http.post("/v1/sessions/import", json=big)
    assert accepted.status_code == 201, accepted.text[:200]


@pytest.mark.postgres
async def test_export_and_import_on_postgresql(pg_url: str, make_settings: Any, fake_model: FakeModelServer) -> None:
    """The same round trip on PostgreSQL: the import's one transaction, then a turn on the new session."""
    running = await RunningServer(make_settings(DATABASE_URL=pg_url)).start()
    try:
        async with httpx.AsyncClient(base_url=running.http, timeout=2 * UNIT) as http:
            ws = await running.client()
            try:
                sid = await conversation(ws, fake_model)
                document = (await http.get(f"/v1/sessions/{sid}/export")).json()
                bad = copy.deepcopy(document)
                bad["events"][-1]["seq"] = 1
                assert (await http.post("/v1/sessions/import", json=bad)).status_code == 400
                imported = await http.post("/v1/sessions/import", json=document)
                assert imported.status_code == 201, imported.text
                new_id = imported.json()["session_id"]
                assert len(await history(http, new_id)) == len(document["events"])
                assert len((await http.get("/v1/sessions")).json()["sessions"]) == 2
                fake_model.enqueue(Reply.of_text("Zephyrine."))
                await ws.turn("What is my cat called?", session_id=new_id)
                assert FACT in fake_model.chat_requests[-1].text
            finally:
                await ws.close()
    finally:
        await running.stop()
