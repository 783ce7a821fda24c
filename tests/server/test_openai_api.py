"""The OpenAI-compatible face, driven by the real openai SDK (sync and async, streamed and not).

Behind the server: the scripted model server, reached by the real AutoGen client. A conversation by
``conversation_id`` continues the same session (the second upstream request carries the first
exchange); a request without it is stateless; hostile bodies are clear 4xx in OpenAI's error shape.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import UNIT
from tests.support.sse import SseReader


def sdk(server: RunningServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.http + "/v1", api_key="x", max_retries=0)


async def test_non_streamed_completion_with_the_async_sdk(server: RunningServer, fake_model: FakeModelServer) -> None:
    """A plain completion: the SDK parses it, the answer is the team's, and our extra fields ride along."""
    fake_model.enqueue(Reply.of_text("Paris is the capital of France."))
    async with sdk(server) as client:
        result = await client.chat.completions.create(
            model="solo", messages=[{"role": "user", "content": "Capital of France?"}]
        )
    assert isinstance(result, ChatCompletion)
    assert result.choices[0].message.content == "Paris is the capital of France."
    assert result.choices[0].finish_reason == "stop"
    assert result.model_extra is not None and result.model_extra["session_id"]


async def test_streamed_completion_with_usage_parses_chunk_by_chunk(
    server: RunningServer, fake_model: FakeModelServer
) -> None:
    """Every chunk parses with the SDK's own types; the text adds up; usage comes last; then [DONE]."""
    fake_model.enqueue(Reply.of_text("one two three four"))
    async with sdk(server) as client:
        stream = await client.chat.completions.create(
            model="solo",
            messages=[{"role": "user", "content": "count"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].choices == []


async def test_a_conversation_id_continues_the_same_session(server: RunningServer, fake_model: FakeModelServer) -> None:
    """The second request sends only the new message; upstream it carries the first exchange."""
    fake_model.enqueue(Reply.of_text("Nice to meet you, Ada."), Reply.of_text("Your name is Ada."))
    async with sdk(server) as client:
        first = await client.chat.completions.create(
            model="solo",
            messages=[{"role": "user", "content": "My name is Ada."}],
            extra_body={"conversation_id": "c-42"},
        )
        second = await client.chat.completions.create(
            model="solo",
            messages=[{"role": "user", "content": "What is my name?"}],
            extra_body={"conversation_id": "c-42"},
        )
    assert first.model_extra is not None and second.model_extra is not None
    assert first.model_extra["session_id"] == second.model_extra["session_id"]
    upstream = fake_model.chat_requests[-1].text
    assert "My name is Ada." in upstream and "Nice to meet you, Ada." in upstream
    assert second.choices[0].message.content == "Your name is Ada."


async def test_the_sync_sdk_works_too(server: RunningServer, fake_model: FakeModelServer) -> None:
    """openai.OpenAI (sync), streamed and not, against the same server."""
    fake_model.enqueue(Reply.of_text("sync answer"), Reply.of_text("streamed sync answer"))

    def run() -> tuple[str, str]:
        client = openai.OpenAI(base_url=server.http + "/v1", api_key="x", max_retries=0)
        with client:
            plain = client.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}])
            stream = client.chat.completions.create(
                model="x", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        return plain.choices[0].message.content or "", text

    plain, streamed = await asyncio.to_thread(run)
    assert plain == "sync answer" and streamed == "streamed sync answer"


async def test_a_stateless_request_carries_its_earlier_messages(
    server: RunningServer, fake_model: FakeModelServer
) -> None:
    """Without conversation_id the request's own messages are the conversation."""
    fake_model.enqueue(Reply.of_text("blue"))
    async with sdk(server) as client:
        await client.chat.completions.create(
            model="solo",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "My favourite colour is blue."},
                {"role": "assistant", "content": "Noted."},
                {"role": "user", "content": "What is my favourite colour?"},
            ],
        )
    upstream = fake_model.chat_requests[-1].text
    assert "My favourite colour is blue." in upstream and "What is my favourite colour?" in upstream


async def test_explicit_terminal_modes_work_here_too(server: RunningServer) -> None:
    """`!pwd` runs the terminal as over the WebSocket, no model involved."""
    async with sdk(server) as client:
        result = await client.chat.completions.create(model="solo", messages=[{"role": "user", "content": "!pwd"}])
    assert str(server.settings.agent_workdir) in (result.choices[0].message.content or "")


async def test_models_lists_the_team(server: RunningServer) -> None:
    """GET /v1/models in OpenAI's list format."""
    async with sdk(server) as client:
        listed = await client.models.list()
    assert [m.id for m in listed.data] == ["solo"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("[1, 2, 3]", 400),
        ('{"model": "solo"}', 400),
        ('{"model": "solo", "messages": "hi"}', 400),
        ('{"model": "solo", "messages": [{"role": "wizard", "content": "hi"}]}', 400),
        ('{"model": "solo", "messages": [{"role": "user", "content": 5}]}', 400),
        ('{"model": "solo", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}', 400),
        ('{"messages": [{"role": "user", "content": "hi"}], "conversation_id": "../../etc/passwd"}', 400),
        ('{"messages": [{"role": "user", "content": "hi"}], "conversation_id": "' + "c" * 10_000 + '"}', 400),
        ('{"messages": [' + ",".join(['{"role": "user", "content": "x"}'] * 10_000) + "]}", 400),
        ('{"messages": [{"role": "user", "content": "' + "x" * (10 * 1024 * 1024) + '"}]}', 413),
        ('{"messages": [', 400),
    ],
)
async def test_hostile_bodies_are_clear_errors_in_openai_shape(server: RunningServer, body: str, status: int) -> None:
    """Bad JSON, wrong shapes, 10,000 messages, 10 kB or path-like conversation ids, 10 MiB: each a 4xx."""
    async with httpx.AsyncClient() as http:
        response = await http.post(
            server.http + "/v1/chat/completions", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["message"] and "type" in error
        health = await http.get(server.http + "/healthz")
        assert health.status_code == 200


async def test_a_question_ends_the_turn_and_points_to_the_native_api(
    server: RunningServer, fake_model: FakeModelServer
) -> None:
    """An HTTP client cannot answer a question here: the turn ends with where to answer it."""
    fake_model.enqueue(Reply.of_tool_call("ask_user_question", {"question": "Which colour?"}))
    async with sdk(server) as client:
        result = await client.chat.completions.create(model="solo", messages=[{"role": "user", "content": "paint"}])
    content = result.choices[0].message.content or ""
    assert "Which colour?" in content and "/answers" in content


async def test_a_client_that_disconnects_mid_stream_stops_the_turn(
    server: RunningServer, fake_model: FakeModelServer
) -> None:
    """Closing the stream mid-answer stops the turn (done: cancelled); what was produced stays in the
    session's timeline, and the session answers the next request."""
    fake_model.enqueue(Reply.of_stall("one two three four five six", after_chunks=2))
    body = {"model": "solo", "stream": True, "messages": [{"role": "user", "content": "go"}],
            "conversation_id": "gone-away"}  # fmt: skip
    async with httpx.AsyncClient(base_url=server.http, timeout=2 * UNIT) as http:
        async with http.stream("POST", "/v1/chat/completions", json=body) as response:
            sid = response.headers["x-session-id"]
            lines = response.aiter_lines()
            seen = ""
            while "one" not in seen:  # the role chunk, then the first streamed words
                line = await anext(lines)
                if line.startswith("data: {"):
                    seen += json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        async with http.stream("GET", f"/v1/sessions/{sid}/events") as events:
            timeline = await SseReader(events).until("done")
    assert timeline[-1].json["status"] == "cancelled"
    assert "one" in "".join(e.json["content"] for e in timeline if e.event == "delta")
    fake_model.enqueue(Reply.of_text("back again"))
    async with sdk(server) as client:
        again = await client.chat.completions.create(
            model="solo",
            messages=[{"role": "user", "content": "still there?"}],
            extra_body={"conversation_id": "gone-away"},
        )
    assert again.choices[0].message.content == "back again"
