"""HTTP tool nodes (the platform's config resolution, timeouts, output caps) and retriever HTTP sources."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.workflows import WorkflowEngine
from backend.workflows.nodes.tool import resolve_http
from tests.fakes.tool_server import ToolServer

from .conftest import by_node, run_example
from .examples import DOCUMENTS, chain


@pytest.fixture
async def tools() -> AsyncIterator[ToolServer]:
    server = ToolServer(documents=list(reversed(DOCUMENTS)))
    await server.start()
    yield server
    await server.stop()


def test_resolution_order_is_the_platforms() -> None:
    """url beats base_url; base_url from config, then binding, then invoke; query/body/headers merged in order."""
    plan = resolve_http(
        {
            "base_url": "http://a.example/api/",
            "path": "/products/search",
            "query": {"keyword": "milk"},
            "body": {"b": 2},
            "headers": {"X-Shared": "config", "X-Config": "1"},
            "binding": {"base_url": "http://binding.example", "headers": {"X-Shared": "binding", "X-Binding": "1"}},
            "invoke": {
                "method": "post",
                "path": "/ignored",
                "query": {"keyword": "bread", "limit": 5},
                "body": {"a": 1, "b": 1},
                "headers": {"X-Shared": "invoke", "X-Invoke": "1"},
            },
        }
    )
    assert plan["url"] == "http://a.example/api/products/search"
    assert plan["method"] == "POST"
    assert plan["query"] == {"keyword": "milk", "limit": 5}
    assert plan["body"] == {"a": 1, "b": 2}
    assert plan["headers"] == {"X-Shared": "config", "X-Invoke": "1", "X-Binding": "1", "X-Config": "1"}
    binding_base = resolve_http(
        {"binding": {"base_url": "http://b.example"}, "invoke": {"base_url": "http://i.example", "path": "x"}}
    )
    assert binding_base["url"] == "http://b.example/x" and binding_base["method"] == "GET"
    assert resolve_http({"url": "http://u.example/full", "base_url": "http://no"})["url"] == "http://u.example/full"


async def test_http_tool_node_calls_and_renders(engine: WorkflowEngine, tools: ToolServer) -> None:
    """A tool node sends the resolved request (templates rendered) and later nodes read its JSON body."""
    example = chain(
        "search",
        [
            {"id": "seed", "type": "assigner", "config": {"assignments": {"word": "milk"}}},
            {
                "id": "search-products",
                "type": "tool",
                "config": {
                    "base_url": tools.url,
                    "path": "/count/search",
                    "query": {"keyword": "{{ state.word }}"},
                    "headers": {"X-Trace": "wf"},
                    "invoke": {"method": "POST", "body": {"page": 1}},
                },
            },
            {
                "id": "out",
                "type": "answer",
                "config": {"text": "{{ nodes['search-products'].output.body.query.keyword }}"},
            },
        ],
    )
    doc = await run_example(engine, example)
    assert doc["status"] == "completed", doc
    assert doc["answer"] == "milk"
    request = tools.requests[-1]
    assert request["method"] == "POST" and request["query"] == {"keyword": "milk"}
    assert json.loads(request["body"]) == {"page": 1} and request["headers"]["x-trace"] == "wf"


async def test_http_tool_timeout_and_error_status(engine: WorkflowEngine, tools: ToolServer) -> None:
    """A slow endpoint fails the node with a timeout message; an HTTP error status fails it too."""
    slow = chain(
        "slow", [{"id": "wait", "type": "tool", "config": {"url": f"{tools.url}/hold", "timeout_seconds": 0.3}}]
    )
    doc = await run_example(engine, slow)
    assert doc["status"] == "failed" and "timed out after 0.3 s" in doc["error"]
    missing = chain("missing", [{"id": "get", "type": "tool", "config": {"url": f"{tools.url}/nowhere"}}])
    doc = await run_example(engine, missing)
    assert doc["status"] == "failed" and "answered HTTP 404" in doc["error"]


async def test_http_output_is_capped(engine: WorkflowEngine, tmp_path: Path) -> None:
    """A body larger than WORKFLOW_OUTPUT_LIMIT is cut with a visible marker, not kept whole."""
    from tests.fakes.serving import LoopbackServer

    async def big(scope, receive, send):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"z" * 500_000})

    server = LoopbackServer(big)
    port = await server.start()
    try:
        doc = await run_example(
            engine, chain("big", [{"id": "get", "type": "tool", "config": {"url": f"http://127.0.0.1:{port}/"}}])
        )
    finally:
        await server.stop()
    node = by_node(doc)["get"][0]
    limit = engine.settings.workflow_output_limit
    assert doc["status"] == "completed"
    assert node["output_text"].startswith("z" * 100) and f"[output truncated at {limit} bytes]" in node["output_text"]
    assert len(node["output_text"]) < limit + 100


async def test_retriever_over_an_http_source(engine: WorkflowEngine, tools: ToolServer) -> None:
    """A retriever with source_url ranks the documents the source returns ({"documents": [...]})."""
    example = chain(
        "remote",
        [
            {
                "id": "retrieve-remote-docs",
                "type": "retriever",
                "config": {"query": "refund policy", "source_url": f"{tools.url}/documents", "top_k": 3},
            }
        ],
    )
    doc = await run_example(engine, example)
    assert doc["status"] == "completed", doc
    ranked = by_node(doc)["retrieve-remote-docs"][0]["output_json"]["retrieved_documents"]
    assert [d["title"] for d in ranked] == ["Refund Policy", "Shipping Policy"]


async def test_workflow_files_are_loaded(store, wf_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """workflows/*.json in WORKFLOWS_DIR load at start; a bad file is skipped; a changed file is a new version."""
    folder = tmp_path / "flows"
    folder.mkdir()
    good = {
        "name": "From File",
        "description": "",
        "dsl": chain("x", [{"id": "a", "type": "answer", "config": {"text": "hi"}}])["dsl"],
    }
    (folder / "good.json").write_text(json.dumps(good))
    (folder / "bad.json").write_text(json.dumps({"name": "bad", "dsl": {"nodes": [{"id": "a", "type": "nope"}]}}))
    engine = WorkflowEngine(store=store, settings=wf_settings(WORKFLOWS_DIR=str(folder)))
    await engine.start()
    await engine.close()
    assert [w.id for w in await store.workflows.list_workflows()] == ["from-file"]
    good["dsl"]["nodes"][0]["config"]["text"] = "hello"
    (folder / "good.json").write_text(json.dumps(good))
    engine = WorkflowEngine(store=store, settings=wf_settings(WORKFLOWS_DIR=str(folder)))
    await engine.start()
    run = await engine.start_run("from-file")
    finished = await asyncio.wait_for(engine.wait(run.id), 10)
    await engine.close()
    assert (await store.workflows.get("from-file")).version == 2
    assert finished.answer == "hello"


async def test_another_engine_takes_over_a_run_whose_process_died(store, wf_settings, tools: ToolServer) -> None:  # type: ignore[no-untyped-def]
    """Engine A dies mid-node; engine B on the same store takes the run over after the lease; no node runs twice."""
    settings = wf_settings(WORKFLOW_LEASE_SECONDS="1")
    example = chain(
        "takeover",
        [
            {"id": "first", "type": "tool", "config": {"url": f"{tools.url}/count/first"}},
            {"id": "held", "type": "tool", "config": {"url": f"{tools.url}/hold", "timeout_seconds": 60}},
            {"id": "last", "type": "answer", "config": {"text": "done"}},
        ],
    )
    a = WorkflowEngine(store=store, settings=settings)
    await a.start()
    await a.definitions.save(example["name"], "", example["dsl"])
    run = await a.start_run("takeover")
    await tools.held.wait()
    for task in [*a._drivers.values(), a._sweeper]:  # A "dies": no release, no more heartbeats
        assert task is not None
        task.cancel()
    b = WorkflowEngine(store=store, settings=settings)
    await b.start()
    try:
        finished = await asyncio.wait_for(b.wait(run.id), 30)
    finally:
        await b.close()
        tools.release()
    assert finished.status == "completed" and finished.answer == "done"
    runs = {n.node_id: n for n in await store.workflows.node_runs(run.id)}
    assert runs["held"].attempts == 2 and runs["first"].attempts == 1
    assert tools.calls["first"] == 1 and tools.calls["hold"] == 2
