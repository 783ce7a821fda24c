"""Save-time validation names the node; hostile definitions, expressions and templates are refused."""

from __future__ import annotations

from typing import Any

import pytest

from backend.errors import WorkflowError, WorkflowValidationError
from backend.workflows import dsl, expressions, templates
from backend.workflows.definitions import validate

from .examples import SCORE_CHECK


def _dsl(nodes: list[dict[str, Any]], edges: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"nodes": nodes, "edges": edges, **extra}


A = {"id": "a", "type": "assigner", "config": {"assignments": {"x": 1}}}
B = {"id": "b", "type": "answer", "config": {"text": "hi"}}
COND = {"id": "c", "type": "if-else", "config": {"expression": "state.x > 0"}}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_dsl([{"id": "a", "type": "teleport", "config": {}}], []), "node 'a': unknown type 'teleport'"),
        (
            _dsl([{"id": "t", "type": "template-transform", "config": {}}], []),
            "node 't' (template-transform): missing config.template",
        ),
        (
            _dsl([{"id": "r", "type": "retriever", "config": {"query": "x"}}], []),
            "node 'r' (retriever): missing config.documents or config.source_url",
        ),
        (_dsl([A], [{"source": "a", "target": "ghost"}]), "target 'ghost' is not a node"),
        (_dsl([A, B], [{"source": "a", "target": "b"}, {"source": "b", "target": "a"}]), "no start node"),
        (_dsl([A, B], []), None),  # two start nodes are fine
        (
            _dsl([A, B, COND], [{"source": "a", "target": "c"}, {"source": "b", "target": "b"}]),
            "unreachable node(s) from the start node: 'b'",
        ),
        (
            _dsl([A, B], [{"source": "a", "target": "b", "condition": "true"}]),
            "condition edge from node 'a', which is a assigner node",
        ),
        (_dsl([COND, B], [{"source": "c", "target": "b"}]), "node 'c' (if-else): every outgoing edge needs condition"),
        (_dsl([{"id": "bad id!", "type": "answer", "config": {"text": "x"}}], []), "nodes[0]: id must be"),
        (
            _dsl([{"id": "t", "type": "template-transform", "config": {"template": "{{ oops"}}], []),
            "node 't': config.template: template syntax error",
        ),
        (
            _dsl([{"id": "k", "type": "code", "config": {"code": "x", "language": "bash"}}], []),
            "node 'k': only language 'python'",
        ),
    ],
)
def test_validation_names_the_problem(doc: dict[str, Any], message: str | None) -> None:
    """Each invalid definition is refused at save time with a message naming the node or edge."""
    if message is None:
        validate(doc, max_nodes=100)
        return
    with pytest.raises(WorkflowValidationError) as info:
        validate(doc, max_nodes=100)
    assert message in info.value.message


def test_cycle_without_exit_is_refused() -> None:
    """a -> b -> c -> b with no condition leaving the loop: refused even with max_steps."""
    nodes = [A, {**B, "id": "b"}, {**A, "id": "c"}]
    edges = [{"source": "a", "target": "b"}, {"source": "b", "target": "c"}, {"source": "c", "target": "b"}]
    with pytest.raises(WorkflowValidationError, match="has no exit"):
        dsl.parse(_dsl(nodes, edges, max_steps=10))


def test_loop_with_exit_needs_a_step_bound() -> None:
    """A loop with an exit is allowed only when dsl.max_steps bounds it."""
    nodes = [A, {**A, "id": "b"}, COND, B]
    edges = [
        {"source": "a", "target": "b"},
        {"source": "b", "target": "c"},
        {"source": "c", "target": "b", "condition": "true"},
        {"source": "c", "target": "d", "condition": "false"},
    ]
    nodes[3] = {**B, "id": "d"}
    with pytest.raises(WorkflowValidationError, match=r"must set dsl\.max_steps"):
        dsl.parse(_dsl(nodes, edges))
    graph = dsl.parse(_dsl(nodes, edges, max_steps=30))
    assert graph.cyclic


def test_ten_thousand_nodes_is_refused_quickly() -> None:
    """A 10,000-node graph is refused by the node limit before any graph work."""
    nodes = [{"id": f"n{i}", "type": "answer", "config": {"text": "x"}} for i in range(10_000)]
    edges = [{"source": f"n{i}", "target": f"n{i + 1}"} for i in range(9_999)]
    with pytest.raises(WorkflowValidationError, match="10000 nodes; at most 500"):
        validate(_dsl(nodes, edges), max_nodes=500)


def test_large_chain_within_limits_validates() -> None:
    """Validation is iterative: a long chain at a raised limit does not hit Python's recursion limit."""
    nodes = [{"id": f"n{i}", "type": "answer", "config": {"text": "x"}} for i in range(5000)]
    edges = [{"source": f"n{i}", "target": f"n{i + 1}"} for i in range(4999)]
    graph = validate(_dsl(nodes, edges), max_nodes=10_000)
    assert graph.starts == ("n0",)


def test_platform_example_validates() -> None:
    """The platform's assigner -> if-else -> template example is valid, with one start node."""
    graph = validate(SCORE_CHECK["dsl"], max_nodes=100)
    assert graph.starts == ("seed-state",)


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('id')",
        "().__class__.__mro__",
        "state.__class__",
        "open('/etc/passwd').read()",
        "9 ** 9 ** 9",
        "'a' * 10 ** 9",
        "exec('import os')",
        "[].__class__.__base__.__subclasses__()",
    ],
)
def test_hostile_expressions_are_errors(expression: str) -> None:
    """Expressions that reach for Python internals or unbounded work raise a WorkflowError."""
    with pytest.raises(WorkflowError):
        expressions.evaluate(expression, {"state": {"score": 7}})


def test_expressions_cannot_change_state() -> None:
    """A method call in an expression works on a copy: the run's state is unchanged."""
    state = {"items": [1, 2]}
    expressions.evaluate("state['items'].append(3)", {"state": state})
    assert state == {"items": [1, 2]}


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ lipsum.__globals__ }}",
        "{{ 'x' * 10000000 }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}0123456789{% endfor %}",
    ],
)
async def test_hostile_templates_are_errors(source: str) -> None:
    """Sandbox escapes, huge outputs and endless loops in templates end in a WorkflowError."""
    with pytest.raises(WorkflowError):
        await templates.render(source, {"state": {}}, max_chars=10_000, timeout=1.0)


async def test_dotted_node_ids_with_dashes() -> None:
    """The platform's dotted form reaches nodes whose ids have '-', and so does nodes["id"]."""
    context = {"nodes": {"retrieve-docs": {"output": {"retrieved_documents": [{"title": "Refund Policy"}]}}}}
    dotted = "Top doc: {{nodes.retrieve-docs.output.retrieved_documents.0.title}}"
    assert await templates.render(dotted, context, node_ids=["retrieve-docs"]) == "Top doc: Refund Policy"
    bracket = "{{ nodes['retrieve-docs'].output.retrieved_documents[0].title }}"
    assert await templates.render(bracket, context, node_ids=["retrieve-docs"]) == "Refund Policy"
