"""Which node runs come next, and what a run's status is. Pure functions over node-run records.

A node waits for all of its forward incoming edges (loop-back edges excluded) to resolve since its
own latest run: an edge resolves when its source finished (completed or skipped) after that. When
all are resolved it is queued if at least one is active (a completed source whose route matches the
edge's condition) and skipped otherwise; a skip propagates the same way. An active loop-back edge
queues its target again at once. A join after an if-else thus runs once, on the taken branch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .dsl import Edge, Graph


class RunLike(Protocol):
    @property
    def node_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def done_seq(self) -> int | None: ...
    @property
    def output_json(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class Latest:
    status: str
    seq: int
    done_seq: int | None
    route: str | None


def latest_runs(runs: Iterable[RunLike]) -> dict[str, Latest]:
    out: dict[str, Latest] = {}
    for r in sorted(runs, key=lambda r: r.seq):
        route = r.output_json.get("route") if isinstance(r.output_json, dict) else None
        out[r.node_id] = Latest(r.status, r.seq, r.done_seq, route)
    return out


def next_steps(
    graph: Graph, finished: str, status: str, route: str | None, latest: Mapping[str, Latest]
) -> list[tuple[str, str]]:
    """(node id, "queued" | "skipped") for the node runs to create after ``finished`` ended with ``status``."""
    view = dict(latest)
    fresh = {finished}  # nodes that finished in this step: newer than any existing run
    view[finished] = Latest(status, 1 << 60, 1 << 60, route)
    out: list[tuple[str, str]] = []
    pending: list[str] = [finished]
    while pending:
        source = pending.pop(0)
        for edge in graph.outgoing.get(source, ()):
            target = edge.target
            current = view.get(target)
            if current is not None and current.status in ("queued", "running"):
                continue
            if edge in graph.back_edges:
                if _active(edge, view[source]):
                    out.append((target, "queued"))
                    view[target] = Latest("queued", 1 << 61, None, None)
                continue
            decision = _readiness(graph.forward_in.get(target, ()), view, fresh, current)
            if decision is None:
                continue
            out.append((target, decision))
            if decision == "skipped":
                view[target] = Latest("skipped", 1 << 61, 1 << 61, None)
                fresh.add(target)
                pending.append(target)
            else:
                view[target] = Latest("queued", 1 << 61, None, None)
    return out


def _active(edge: Edge, source: Latest) -> bool:
    return source.status == "completed" and (edge.condition is None or edge.condition == source.route)


def _readiness(
    incoming: Sequence[Edge], view: Mapping[str, Latest], fresh: set[str], target: Latest | None
) -> str | None:
    any_active = False
    for edge in incoming:
        source = view.get(edge.source)
        if source is None or source.status not in ("completed", "skipped"):
            return None
        if edge.source not in fresh and target is not None and (source.done_seq or 0) < target.seq:
            return None  # resolved before the target's latest run: not for this round
        any_active = any_active or _active(edge, source)
    return "queued" if any_active else "skipped"


def aggregate(statuses: Iterable[str], *, cancelled: bool = False) -> str:
    """The platform's rule: any failed -> failed; any queued/running -> running; else completed."""
    seen = set(statuses)
    if cancelled:
        return "cancelled"
    if "failed" in seen:
        return "failed"
    if seen & {"running", "queued"}:
        return "running"
    return "completed"
