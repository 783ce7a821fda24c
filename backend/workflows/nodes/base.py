"""What a node executor receives and returns, and the host services it may use."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...errors import WorkflowError
from ...settings import Settings
from .. import templates
from ..dsl import Graph, Node


class WorkflowHost(Protocol):
    """What the session layer provides to a run (events, agents, tools), per session."""

    async def emit(self, session_id: str, type_: str, **fields: Any) -> None: ...

    async def run_agent(self, session_id: str, team: str | None, prompt: str) -> str: ...

    async def tool_deps(self, session_id: str) -> Any: ...  # backend.tools.registry.ToolDeps


class ModelCaller(Protocol):
    async def __call__(
        self, messages: list[dict[str, str]], *, temperature: float | None, max_tokens: int | None
    ) -> tuple[str, dict[str, int]]: ...


@dataclass
class NodeResult:
    output_text: str | None = None
    output_json: Any = None
    state_updates: dict[str, Any] | None = None
    route: str | None = None  # "true" / "false" for if-else nodes
    answer: str | None = None
    inputs: Any = None  # what the node resolved its config to (recorded on the node run)
    artifacts: list[tuple[str, str, Any]] = field(default_factory=list)  # (kind, name, content)


@dataclass
class NodeContext:
    """One node's execution: its config, the run's view so far, and the services it may use."""

    node: Node
    graph: Graph
    run_id: str
    node_run_id: str
    session_id: str | None
    state: dict[str, Any]
    inputs: dict[str, Any]
    nodes: dict[str, dict[str, Any]]  # node id -> {"output", "text", "status"} of its latest run
    settings: Settings
    host: WorkflowHost | None
    model: ModelCaller | None
    tools: Any  # backend.tools.registry.ToolRegistry
    sandbox: Any  # backend.sandbox.SandboxManager | None
    store: Any  # backend.store.Store
    checkpoint: Any  # the node run's saved checkpoint (a re-run after a crash sees it)
    save_checkpoint: Callable[[dict[str, Any], str | None], Awaitable[None]]
    wait_answer: Callable[[str], Awaitable[str]]

    @property
    def config(self) -> Mapping[str, Any]:
        return self.node.config

    def template_context(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "nodes": self.nodes,
            "inputs": self.inputs,
            "current": {"node_id": self.node.id, "run_id": self.run_id},
        }

    async def render_text(self, source: str) -> str:
        return await templates.render_text(
            source, self.template_context(), node_ids=self.graph.nodes, max_chars=self.settings.workflow_output_limit
        )

    async def render_value(self, value: Any) -> Any:
        return await templates.render_value(
            value, self.template_context(), node_ids=self.graph.nodes, max_chars=self.settings.workflow_output_limit
        )

    def require_session(self, what: str) -> str:
        if self.session_id is None:
            raise WorkflowError(f"{what} needs a session (start the run with a session_id)")
        return self.session_id

    def cap_text(self, text: str) -> str:
        limit = self.settings.workflow_output_limit
        if len(text) <= limit:
            return text
        return text[:limit] + f"\n[output truncated at {limit} characters]"

    def check_json_size(self, value: Any) -> Any:
        size = len(json.dumps(value, ensure_ascii=False, default=str))
        if size > self.settings.workflow_output_limit * 4:
            raise WorkflowError(
                f"the node's JSON output is {size} bytes (limit {self.settings.workflow_output_limit * 4})"
            )
        return value


Executor = Callable[[NodeContext], Coroutine[Any, Any, NodeResult]]


def number(config: Mapping[str, Any], key: str, default: float, *, low: float, high: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WorkflowError(f"config.{key} must be a number")
    return float(min(max(value, low), high))
