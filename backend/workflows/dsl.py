"""The workflow DSL: parse ``{nodes, edges}`` into a :class:`Graph` and validate it. Pure.

Every error names the node (or edge) it is about, so a definition is fixed from the message alone:
unknown node type, missing config, an edge to a missing node, no start node, unreachable nodes,
a condition edge from a non-condition node, and a cycle with no exit. Loops are allowed only with
an exit (a condition edge leaving the cycle) and an explicit ``max_steps`` bound.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import WorkflowValidationError

NODE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
CONDITION_TYPES = frozenset({"if-else", "condition"})

#: node type -> config keys of which at least one must be present (each tuple is one "any of" rule)
REQUIRED_CONFIG: dict[str, tuple[tuple[str, ...], ...]] = {
    "assigner": (("assignments",),),
    "if-else": (("expression",),),
    "condition": (("expression",),),
    "template-transform": (("template",),),
    "knowledge-retrieval": (("documents", "source_url"), ("query", "query_template")),
    "retriever": (("documents", "source_url"), ("query", "query_template")),
    "llm": (("prompt", "messages"),),
    "agent": (("prompt",),),
    "tool": (("tool", "url", "base_url", "path", "invoke"),),
    "code": (("code",),),
    "answer": (("template", "text"),),
    "human": (("question",),),
}
NODE_TYPES = frozenset(REQUIRED_CONFIG)
#: the platform's aliases, kept as given in the definition but run by one executor
CANONICAL = {"condition": "if-else", "retriever": "knowledge-retrieval"}


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    type: str
    config: Mapping[str, Any]
    title: str | None = None

    @property
    def kind(self) -> str:
        """The executor that runs this node (aliases resolved)."""
        return CANONICAL.get(self.type, self.type)


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    condition: str | None = None  # "true" / "false" on edges leaving an if-else node

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "target": self.target}
        if self.condition is not None:
            out["condition"] = self.condition
        return out


@dataclass(frozen=True)
class Graph:
    nodes: dict[str, Node]
    edges: tuple[Edge, ...]
    starts: tuple[str, ...]
    max_steps: int | None
    outgoing: dict[str, tuple[Edge, ...]] = field(default_factory=dict)
    #: incoming edges that are not loop-back edges: a node waits for all of these to resolve
    forward_in: dict[str, tuple[Edge, ...]] = field(default_factory=dict)
    back_edges: frozenset[Edge] = frozenset()

    @property
    def cyclic(self) -> bool:
        return bool(self.back_edges)

    def summary(self) -> dict[str, Any]:
        """What a run card needs to draw the graph."""
        return {
            "nodes": [
                {"id": n.id, "type": n.type, **({"title": n.title} if n.title else {})} for n in self.nodes.values()
            ],
            "edges": [e.to_json() for e in self.edges],
        }


def _fail(message: str) -> WorkflowValidationError:
    return WorkflowValidationError(message)


def _parse_node(index: int, raw: Any) -> Node:
    if not isinstance(raw, Mapping):
        raise _fail(f"nodes[{index}] must be an object")
    node_id = raw.get("id")
    if not isinstance(node_id, str) or not NODE_ID.match(node_id):
        raise _fail(f"nodes[{index}]: id must be 1-64 letters, digits, '_' or '-' (got {node_id!r})")
    node_type = raw.get("type")
    if node_type not in NODE_TYPES:
        raise _fail(f"node {node_id!r}: unknown type {node_type!r} (known: {', '.join(sorted(NODE_TYPES))})")
    config = raw.get("config", {})
    if not isinstance(config, Mapping):
        raise _fail(f"node {node_id!r}: config must be an object")
    for any_of in REQUIRED_CONFIG[node_type]:
        if not any(config.get(key) not in (None, "", [], {}) for key in any_of):
            wanted = " or ".join(f"config.{key}" for key in any_of)
            raise _fail(f"node {node_id!r} ({node_type}): missing {wanted}")
    title = raw.get("title") or raw.get("name")
    return Node(id=node_id, type=str(node_type), config=dict(config), title=str(title) if title else None)


def _parse_edge(index: int, raw: Any, nodes: Mapping[str, Node]) -> Edge:
    if not isinstance(raw, Mapping):
        raise _fail(f"edges[{index}] must be an object")
    source, target = raw.get("source"), raw.get("target")
    for end, value in (("source", source), ("target", target)):
        if not isinstance(value, str) or value not in nodes:
            raise _fail(f"edges[{index}] ({source!r} -> {target!r}): {end} {value!r} is not a node")
    condition = raw.get("condition")
    if isinstance(condition, bool):
        condition = "true" if condition else "false"
    if condition is not None:
        condition = str(condition).lower()
        if condition not in ("true", "false"):
            raise _fail(f"edges[{index}] ({source} -> {target}): condition must be 'true' or 'false'")
        if nodes[str(source)].type not in CONDITION_TYPES:
            raise _fail(
                f"edges[{index}]: condition edge from node {source!r}, which is a {nodes[str(source)].type} "
                "node, not an if-else/condition node"
            )
    return Edge(str(source), str(target), condition)


def parse(dsl: Any, *, max_nodes: int = 500, max_edges: int = 2000) -> Graph:
    """Parse and validate a definition; raise :class:`WorkflowValidationError` naming the culprit."""
    if not isinstance(dsl, Mapping):
        raise _fail("dsl must be an object with 'nodes' and 'edges'")
    raw_nodes, raw_edges = dsl.get("nodes"), dsl.get("edges", [])
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise _fail("dsl.nodes must be a non-empty list")
    if not isinstance(raw_edges, list):
        raise _fail("dsl.edges must be a list")
    if len(raw_nodes) > max_nodes:
        raise _fail(f"the workflow has {len(raw_nodes)} nodes; at most {max_nodes} are allowed")
    if len(raw_edges) > max_edges:
        raise _fail(f"the workflow has {len(raw_edges)} edges; at most {max_edges} are allowed")
    nodes: dict[str, Node] = {}
    for index, raw in enumerate(raw_nodes):
        node = _parse_node(index, raw)
        if node.id in nodes:
            raise _fail(f"node {node.id!r} is defined twice")
        nodes[node.id] = node
    edges = tuple(_parse_edge(i, raw, nodes) for i, raw in enumerate(raw_edges))
    if len(set(edges)) != len(edges):
        raise _fail("an edge is listed twice")
    max_steps = dsl.get("max_steps")
    if max_steps is not None and (not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1):
        raise _fail("dsl.max_steps must be a positive integer")
    outgoing: dict[str, list[Edge]] = {nid: [] for nid in nodes}
    incoming: dict[str, list[Edge]] = {nid: [] for nid in nodes}
    for edge in edges:
        outgoing[edge.source].append(edge)
        incoming[edge.target].append(edge)
    for node in nodes.values():
        if node.type in CONDITION_TYPES:
            labels = {e.condition for e in outgoing[node.id]}
            if None in labels:
                raise _fail(f"node {node.id!r} ({node.type}): every outgoing edge needs condition 'true' or 'false'")
    start = dsl.get("start")
    if start is not None:
        if start not in nodes:
            raise _fail(f"dsl.start {start!r} is not a node")
        starts: tuple[str, ...] = (str(start),)
    else:
        starts = tuple(nid for nid in nodes if not incoming[nid])
    if not starts:
        raise _fail("no start node: every node has an incoming edge (set dsl.start or remove an edge)")
    reached = _reachable(starts, outgoing)
    unreachable = [nid for nid in nodes if nid not in reached]
    if unreachable:
        shown = ", ".join(repr(n) for n in unreachable[:5]) + (" ..." if len(unreachable) > 5 else "")
        raise _fail(f"unreachable node(s) from the start node: {shown}")
    back = _back_edges(starts, outgoing)
    if back:
        _check_cycles(nodes, outgoing, max_steps)
    return Graph(
        nodes=nodes,
        edges=edges,
        starts=starts,
        max_steps=max_steps,
        outgoing={k: tuple(v) for k, v in outgoing.items()},
        forward_in={k: tuple(e for e in v if e not in back) for k, v in incoming.items()},
        back_edges=frozenset(back),
    )


def _reachable(starts: Iterable[str], outgoing: Mapping[str, list[Edge]]) -> set[str]:
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        nid = stack.pop()
        if nid in seen:
            continue
        seen.add(nid)
        stack.extend(e.target for e in outgoing[nid])
    return seen


def _back_edges(starts: Iterable[str], outgoing: Mapping[str, list[Edge]]) -> set[Edge]:
    """Edges that close a cycle in a depth-first walk from the start nodes (iterative)."""
    back: set[Edge] = set()
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for root in starts:
        if root in state:
            continue
        state[root] = 1
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            nid, i = stack[-1]
            edges = outgoing[nid]
            if i < len(edges):
                stack[-1] = (nid, i + 1)
                edge = edges[i]
                mark = state.get(edge.target)
                if mark == 1:
                    back.add(edge)
                elif mark is None:
                    state[edge.target] = 1
                    stack.append((edge.target, 0))
            else:
                state[nid] = 2
                stack.pop()
    return back


def _sccs(nodes: Iterable[str], outgoing: Mapping[str, list[Edge]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            nid, i = work[-1]
            if i == 0 and nid not in index:
                index[nid] = low[nid] = counter
                counter += 1
                stack.append(nid)
                on_stack.add(nid)
            edges = outgoing[nid]
            if i < len(edges):
                work[-1] = (nid, i + 1)
                target = edges[i].target
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[nid] = min(low[nid], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[nid])
            if low[nid] == index[nid]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == nid:
                        break
                out.append(component)
    return out


def _check_cycles(nodes: Mapping[str, Node], outgoing: Mapping[str, list[Edge]], max_steps: int | None) -> None:
    for component in _sccs(nodes, outgoing):
        members = set(component)
        cyclic = len(component) > 1 or any(e.target == component[0] for e in outgoing[component[0]])
        if not cyclic:
            continue
        names = " -> ".join(sorted(members)[:6])
        exits = [
            e
            for nid in component
            for e in outgoing[nid]
            if e.target not in members and e.condition is not None and nodes[nid].type in CONDITION_TYPES
        ]
        if not exits:
            raise _fail(
                f"cycle through node(s) {names} has no exit: add an if-else node in the loop with an edge leaving it"
            )
        if max_steps is None:
            raise _fail(f"cycle through node(s) {names}: a workflow with a loop must set dsl.max_steps")
