"""The engine runs the platform's examples to their documented results."""

from __future__ import annotations

import asyncio

from backend.workflows import WorkflowEngine

from .conftest import by_node, run_example
from .examples import RETRIEVAL, SCORE_CHECK, chain


async def test_score_check_example(engine: WorkflowEngine) -> None:
    """assigner (7, Alice) -> if-else state.score >= 5 -> 'Alice passed with score 7'; the false branch is skipped."""
    doc = await run_example(engine, SCORE_CHECK)
    assert doc["status"] == "completed"
    nodes = by_node(doc)
    assert nodes["high-path"][0]["output_text"] == "Alice passed with score 7"
    assert nodes["high-path"][0]["status"] == "completed"
    assert [n["status"] for n in nodes["low-path"]] == ["skipped"]
    assert nodes["check-score"][0]["output_json"] == {"condition_result": True, "route": "true"}
    assert nodes["seed-state"][0]["output_json"] == {"state_updates": {"score": 7, "user_name": "Alice"}}
    assert doc["state"] == {"score": 7, "user_name": "Alice"}
    assert doc["answer"] == "Alice passed with score 7"


async def test_false_branch(engine: WorkflowEngine) -> None:
    """With a low score the false branch runs and the true branch is skipped (inputs seed the state)."""
    example = {**SCORE_CHECK, "dsl": {**SCORE_CHECK["dsl"]}}
    example["dsl"]["nodes"] = [
        {
            "id": "seed-state",
            "type": "assigner",
            "config": {"assignments": {"score": "{{ inputs.score }}", "user_name": "Bob"}},
        },
        *SCORE_CHECK["dsl"]["nodes"][1:],
    ]
    doc = await run_example(engine, example, {"score": 3})
    nodes = by_node(doc)
    assert nodes["low-path"][0]["output_text"] == "Bob failed with score 3"
    assert nodes["high-path"][0]["status"] == "skipped"


async def test_retriever_example(engine: WorkflowEngine) -> None:
    """Query 'refund' over the refund and shipping documents puts Refund Policy first."""
    doc = await run_example(engine, RETRIEVAL)
    assert doc["status"] == "completed"
    nodes = by_node(doc)
    documents = nodes["retrieve-docs"][0]["output_json"]["retrieved_documents"]
    assert documents[0]["title"] == "Refund Policy"
    assert nodes["render-answer"][0]["output_text"] == "Top doc: Refund Policy"


async def test_join_after_branches_runs_once(engine: WorkflowEngine) -> None:
    """A join after both branches of an if-else runs once; the answer node's text is the run's answer."""
    example = {
        "name": "join",
        "dsl": {
            "nodes": [
                *SCORE_CHECK["dsl"]["nodes"],
                {"id": "done", "type": "answer", "config": {"template": "{{ nodes['high-path'].text }}!"}},
            ],
            "edges": [
                *SCORE_CHECK["dsl"]["edges"],
                {"source": "high-path", "target": "done"},
                {"source": "low-path", "target": "done"},
            ],
        },
    }
    doc = await run_example(engine, example)
    nodes = by_node(doc)
    assert [n["status"] for n in nodes["done"]] == ["completed"]
    assert doc["answer"] == "Alice passed with score 7!"


async def test_bounded_loop_counts_up(engine: WorkflowEngine) -> None:
    """A loop with an exit and a step bound runs until its condition turns false."""
    example = {
        "name": "counter",
        "dsl": {
            "max_steps": 50,
            "nodes": [
                {"id": "init", "type": "assigner", "config": {"assignments": {"i": 0}}},
                {"id": "inc", "type": "assigner", "config": {"assignments": {"i": "{{ state.i + 1 }}"}}},
                {"id": "more", "type": "if-else", "config": {"expression": "state.i < 3"}},
                {"id": "out", "type": "answer", "config": {"text": "i={{ state.i }}"}},
            ],
            "edges": [
                {"source": "init", "target": "inc"},
                {"source": "inc", "target": "more"},
                {"source": "more", "target": "inc", "condition": "true"},
                {"source": "more", "target": "out", "condition": "false"},
            ],
        },
    }
    doc = await run_example(engine, example)
    assert doc["status"] == "completed", doc
    assert doc["answer"] == "i=3"
    assert len(by_node(doc)["inc"]) == 3


async def test_loop_that_never_ends_hits_max_steps(engine: WorkflowEngine) -> None:
    """A loop whose exit never comes fails the run at max_steps with a clear error."""
    example = {
        "name": "forever",
        "dsl": {
            "max_steps": 20,
            "nodes": [
                {"id": "begin", "type": "assigner", "config": {"assignments": {"x": 0}}},
                {"id": "tick", "type": "assigner", "config": {"assignments": {"x": 1}}},
                {"id": "again", "type": "if-else", "config": {"expression": "true"}},
                {"id": "out", "type": "answer", "config": {"text": "never"}},
            ],
            "edges": [
                {"source": "begin", "target": "tick"},
                {"source": "tick", "target": "again"},
                {"source": "again", "target": "tick", "condition": "true"},
                {"source": "again", "target": "out", "condition": "false"},
            ],
        },
    }
    doc = await run_example(engine, example)
    assert doc["status"] == "failed"
    assert "max_steps (20)" in doc["error"]
    assert doc["steps"] == 21


async def test_versions_are_immutable(engine: WorkflowEngine) -> None:
    """Saving a changed definition makes a new version; the old one is still there; an identical save is a no-op."""
    first, created = await engine.definitions.save(
        "Daily Report", "", chain("x", [{"id": "a", "type": "answer", "config": {"text": "v1"}}])["dsl"]
    )
    assert (first.id, first.version, created) == ("daily-report", 1, True)
    same, created = await engine.definitions.save("Daily Report", "", first.dsl)
    assert (same.version, created) == (1, False)
    second, _ = await engine.definitions.save(
        "Daily Report", "", chain("x", [{"id": "a", "type": "answer", "config": {"text": "v2"}}])["dsl"]
    )
    assert second.version == 2
    old = await engine.definitions.resolve("daily-report", 1)
    assert old.dsl["nodes"][0]["config"]["text"] == "v1"
    run = await engine.start_run("Daily Report")
    assert (await engine.wait(run.id, timeout=10)).answer == "v2"


async def test_node_error_fails_run_and_skips_rest(engine: WorkflowEngine) -> None:
    """A node that fails fails the run (any failed -> failed) and the nodes after it never run."""
    example = chain(
        "broken",
        [
            {"id": "a", "type": "template-transform", "config": {"template": "{{ state.missing }}"}},
            {"id": "b", "type": "answer", "config": {"text": "unreachable"}},
        ],
    )
    doc = await run_example(engine, example)
    assert doc["status"] == "failed"
    assert "node 'a'" in doc["error"] and "missing" in doc["error"]
    assert "b" not in by_node(doc)


async def test_cancel_a_waiting_run(store, wf_settings) -> None:  # type: ignore[no-untyped-def]
    """Cancel while a human node waits: the node fails as cancelled, its question closes, the run ends cancelled."""
    host = RecordingHost()
    engine = WorkflowEngine(store=store, settings=wf_settings(), host=host)
    await engine.start()
    try:
        example = chain("slow", [{"id": "wait", "type": "human", "config": {"question": "Still there?"}}])
        await engine.definitions.save(example["name"], "", example["dsl"])
        run = await engine.start_run("slow", session_id="s1")
        await host.signal("question").wait()
        await engine.cancel(run.id)
        finished = await asyncio.wait_for(engine.wait(run.id), 10)
        doc = await engine.describe(run.id)
    finally:
        await engine.close()
    assert finished.status == "cancelled"
    assert by_node(doc)["wait"][0]["error"] == "cancelled"
    question_id = next(f["question_id"] for t, f in host.events if t == "question")
    assert (await store.questions.get(str(question_id))).status == "cancelled"


async def test_condition_alias_and_json_templates(engine: WorkflowEngine) -> None:
    """'condition' works like 'if-else'; a template with output_format json becomes structured output."""
    example = {
        "name": "aliases",
        "dsl": {
            "nodes": [
                {"id": "seed", "type": "assigner", "config": {"assignments": {"items": [1, 2, 3]}}},
                {"id": "many", "type": "condition", "config": {"expression": "len(state['items']) > 2"}},
                {
                    "id": "shape",
                    "type": "template-transform",
                    "config": {"template": '{"count": {{ state["items"] | length }}}', "output_format": "json"},
                },
                {"id": "few", "type": "answer", "config": {"text": "few"}},
                {"id": "out", "type": "answer", "config": {"text": "count={{ nodes.shape.output.count }}"}},
            ],
            "edges": [
                {"source": "seed", "target": "many"},
                {"source": "many", "target": "shape", "condition": True},
                {"source": "many", "target": "few", "condition": False},
                {"source": "shape", "target": "out"},
            ],
        },
    }
    doc = await run_example(engine, example)
    assert doc["status"] == "completed", doc
    nodes = by_node(doc)
    assert nodes["shape"][0]["output_json"] == {"count": 3}
    assert nodes["few"][0]["status"] == "skipped"
    assert doc["answer"] == "count=3"


class RecordingHost:
    """A host that records events (and signals each type) instead of a chat server."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []
        self.seen: dict[str, asyncio.Event] = {}

    def signal(self, type_: str) -> asyncio.Event:
        return self.seen.setdefault(type_, asyncio.Event())

    async def emit(self, session_id: str, type_: str, **fields: object) -> None:
        self.events.append((type_, fields))
        self.signal(type_).set()

    async def run_agent(self, session_id: str, team: str | None, prompt: str) -> str:
        raise AssertionError("not used")

    async def tool_deps(self, session_id: str) -> object:
        raise AssertionError("not used")


async def test_human_answer_recorded_by_another_process_is_picked_up(store, wf_settings) -> None:  # type: ignore[no-untyped-def]
    """A waiting human node also finds an answer written to the store by another process (the session's owner)."""
    host = RecordingHost()
    engine = WorkflowEngine(store=store, settings=wf_settings(), host=host)
    await engine.start()
    try:
        example = chain(
            "ask",
            [
                {"id": "ask", "type": "human", "config": {"question": "Name?"}},
                {"id": "out", "type": "answer", "config": {"text": "Hello {{ nodes.ask.text }}"}},
            ],
        )
        await engine.definitions.save(example["name"], "", example["dsl"])
        run = await engine.start_run("ask", session_id="s1")
        await host.signal("question").wait()
        question_id = next(f["question_id"] for t, f in host.events if t == "question")
        assert await store.questions.close(str(question_id), "answered", "Ada")  # not through this engine
        finished = await asyncio.wait_for(engine.wait(run.id), 30)
    finally:
        await engine.close()
    assert finished.answer == "Hello Ada"
