"""Builds one AutoGen team per session from a declarative :class:`TeamSpec`.

Everything that costs time and is the same for every session (the spec, the system prompt, the
tool specs and their argument models, the shared model client and token counter) lives in
:class:`TeamFactory`; :meth:`TeamFactory.build` only creates the cheap per-session objects.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import Handoff, TerminationCondition
from autogen_agentchat.conditions import FunctionalTermination, MaxMessageTermination
from autogen_agentchat.messages import (
    BaseAgentEvent,
    BaseChatMessage,
    HandoffMessage,
    TextMessage,
    ToolCallSummaryMessage,
)
from autogen_agentchat.teams import BaseGroupChat, RoundRobinGroupChat, Swarm
from autogen_core.models import ChatCompletionClient, CreateResult, SystemMessage
from autogen_core.tools import BaseTool, ToolSchema

from ..context.budget import request_limit
from ..context.model_context import BudgetedChatCompletionContext, ContextReport
from ..context.summarizer import ModelSummarizer
from ..context.tokens import TokenCounter
from ..llm.tap import StreamingTap
from ..settings import Settings
from ..tools.mcp import McpConnection
from ..tools.registry import ToolDeps, ToolRegistry, ToolSpec
from .mcp_tools import McpTool
from .spec import AgentSpec, TeamSpec
from .tools import SessionTool

#: the tool group that stands for the MCP servers' tools in a team file
MCP_GROUP = "mcp"
#: an agent's fixed prompt (system message and tool schemas) may take at most this share of the
#: request limit once MCP tools are added: the rest is for the conversation (MCP tools beyond it are
#: left out, in the team file's order, and the context event says which)
MAX_FIXED_SHARE = 0.6

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TeamHooks:
    """How a team reports to its session."""

    deps: ToolDeps
    on_delta: Callable[[str, str], None]  # (agent, text chunk)
    #: (agent, prompt tokens, completion tokens, seconds, reported): with reported False the server sent
    #: no usage and the completion count is ours (the session estimates the prompt from its context)
    on_result: Callable[[str, int, int, float, bool], None]
    on_context: Callable[[ContextReport], None]
    on_tool_timing: Callable[[str, float], None]  # (call id, seconds)
    #: awaited once per model call right after its first text chunk was handed to ``on_delta``: until
    #: that delta is stored and delivered (the token a person waits for goes out before the rest of
    #: an already-buffered reply is processed)
    first_delta_out: Callable[[], Awaitable[None]] | None = None
    #: the session's MCP servers' tools: (connection, the server's own schema) pairs
    mcp_tools: Sequence[tuple[McpConnection, ToolSchema]] = ()
    #: a model request (an agent's or its summarizer's) is about to be sent
    on_request: Callable[[], None] | None = None


@dataclass
class BuiltTeam:
    team: BaseGroupChat
    spec: TeamSpec
    contexts: dict[str, BudgetedChatCompletionContext] = field(default_factory=dict)
    tools_enabled: bool = True
    #: agent -> MCP tools not offered because the fixed prompt would not leave room for a conversation
    left_out: dict[str, list[str]] = field(default_factory=dict)

    def task(self, context: Sequence[tuple[str, str]], user_text: str) -> list[BaseChatMessage]:
        """Messages for one turn: unseen context first, the user's message last.

        A swarm's turn always starts at its entry agent (the coordinator), whoever spoke last.
        """
        messages: list[BaseChatMessage] = [TextMessage(source=src, content=text) for src, text in context]
        if self.spec.kind == "swarm":
            messages.append(HandoffMessage(source="user", target=self.spec.entry_agent, content=user_text))
        else:
            messages.append(TextMessage(source="user", content=user_text))
        return messages


def final_answer_from(agents: frozenset[str]) -> Callable[[Sequence[BaseAgentEvent | BaseChatMessage]], bool]:
    """A swarm turn ends when one of its agents answers (anything but a handoff)."""

    def final_answer(messages: Sequence[BaseAgentEvent | BaseChatMessage]) -> bool:
        return any(isinstance(m, (TextMessage, ToolCallSummaryMessage)) and m.source in agents for m in messages)

    return final_answer


class TeamFactory:
    def __init__(
        self,
        *,
        spec: TeamSpec,
        registry: ToolRegistry,
        model_client: ChatCompletionClient,
        settings: Settings,
        counter: TokenCounter,
        safety_margin: float | None = None,
    ) -> None:
        self.spec = spec
        self.registry = registry
        self.model_client = model_client
        self.settings = settings
        self.counter = counter
        #: CONTEXT_SAFETY_MARGIN, or what calibration against the server's tokenizer measured
        self.safety_margin = settings.context_safety_margin if safety_margin is None else safety_margin
        self.tools_enabled = bool(model_client.model_info.get("function_calling", False))
        if not self.tools_enabled:
            logger.warning(
                "the model cannot call functions (set LLM_FUNCTION_CALLING=1 if it can): agents get no tools; "
                "explicit terminal commands (!ls) still work"
            )
        base_prompt = settings.resolved_system_prompt()
        self._system: dict[str, str] = {
            a.name: a.system_message.replace("{system_prompt}", base_prompt) for a in spec.agents
        }
        self._tools: dict[str, list[ToolSpec]] = {a.name: self._resolve_tools(a) for a in spec.agents}

    def _resolve_tools(self, agent: AgentSpec) -> list[ToolSpec]:
        if not self.tools_enabled:
            return []
        chosen: dict[str, ToolSpec] = {}
        for ref in agent.tools:
            if ref == MCP_GROUP:
                continue  # the MCP servers' tools, added per session when the team is built
            if ref == "*":
                matches = self.registry.specs()
            elif ref in self.registry:
                matches = [self.registry.get(ref)]
            else:
                matches = self.registry.in_group(ref)
                if not matches:
                    raise ValueError(f"agent {agent.name!r}: unknown tool or group {ref!r}")
            for spec in matches:
                chosen[spec.name] = spec
        return list(chosen.values())

    def fixed_prompt_tokens(self) -> dict[str, int]:
        """Agent -> tokens of its fixed prompt: the system message plus every tool and handoff schema.

        Counted with the same counter the context budget uses, as an empty conversation would be sent;
        this is what every request of that agent costs before the user has said anything.
        """
        result: dict[str, int] = {}
        for agent in self.spec.agents:
            schemas: list[Any] = [
                SessionTool(spec, cast(ToolDeps, None)).schema  # schema only: never run
                for spec in self._tools[agent.name]
            ]
            if self.tools_enabled:
                schemas += [Handoff(target=t).handoff_tool.schema for t in agent.handoffs]
            system = [SystemMessage(content=self._system[agent.name])]
            result[agent.name] = self.counter.count_request(system, schemas)
        return result

    def mcp_agents(self) -> list[str]:
        """The agents that get the MCP servers' tools (those holding "mcp" or "*")."""
        if not self.tools_enabled:
            return []
        return [a.name for a in self.spec.agents if MCP_GROUP in a.tools or "*" in a.tools]

    def agents_holding(self) -> dict[str, list[str]]:
        """Tool name -> agents of this team that hold it (for the tool listing)."""
        holders: dict[str, list[str]] = {}
        for agent, specs in self._tools.items():
            for spec in specs:
                holders.setdefault(spec.name, []).append(agent)
        return holders

    async def warm_up(self) -> None:
        """Build one throwaway team and round-trip its state, once at start-up: the first user's
        first turn then does not pay the process's first-time costs (AutoGen's and pydantic's lazily
        built validators, schema caches, lazy imports: ~10 ms of a cold first turn, bench ``ttft``)."""

        class _Discard:
            def emit(self, type_: str, **fields: Any) -> None:
                pass

        hooks = TeamHooks(
            deps=ToolDeps(session_id="warm-up", settings=self.settings, store=None, events=_Discard()),
            on_delta=lambda agent, text: None,
            on_result=lambda agent, prompt, completion, seconds, reported: None,
            on_context=lambda report: None,
            on_tool_timing=lambda call, seconds: None,
        )
        built = self.build(hooks)
        await built.team.load_state(await built.team.save_state())

    def build(self, hooks: TeamHooks) -> BuiltTeam:
        built_contexts: dict[str, BudgetedChatCompletionContext] = {}
        participants: list[AssistantAgent] = []
        left_out: dict[str, list[str]] = {}
        for agent in self.spec.agents:
            participants.append(self._build_agent(agent, hooks, built_contexts, left_out))
        team: BaseGroupChat
        if self.spec.kind == "swarm":
            termination: TerminationCondition = FunctionalTermination(
                final_answer_from(frozenset(a.name for a in self.spec.agents))
            ) | MaxMessageTermination(self.spec.max_messages or self.settings.max_team_messages)
            team = Swarm(participants, termination_condition=termination)  # type: ignore[arg-type]
        else:
            team = RoundRobinGroupChat(
                participants,  # type: ignore[arg-type]
                termination_condition=MaxMessageTermination(self.spec.max_messages) if self.spec.max_messages else None,
                max_turns=self.spec.max_turns or len(participants),
            )
        return BuiltTeam(
            team=team, spec=self.spec, contexts=built_contexts, tools_enabled=self.tools_enabled, left_out=left_out
        )

    def _fitting(self, name: str, base: list[Any], extra: list[McpTool]) -> tuple[list[McpTool], list[str]]:
        """The MCP tools (in the team file's order) that keep the agent's fixed prompt within
        MAX_FIXED_SHARE of the request limit; the names of those left out."""
        s = self.settings
        cap = math.floor(MAX_FIXED_SHARE * request_limit(s.context_budget, s.context_reserve, self.safety_margin))
        system = [SystemMessage(content=self._system[name])]
        offered: list[McpTool] = []
        left: list[str] = []
        for tool in extra:
            schemas = [*base, *(t.schema for t in offered), tool.schema]
            if self.counter.count_request(system, schemas) <= cap:
                offered.append(tool)
            else:
                left.append(tool.name)
        return offered, left

    def _build_agent(
        self,
        agent: AgentSpec,
        hooks: TeamHooks,
        contexts: dict[str, BudgetedChatCompletionContext],
        left_out: dict[str, list[str]],
    ) -> AssistantAgent:
        name = agent.name
        tools: list[BaseTool[Any, Any]] = [
            SessionTool(spec, hooks.deps, hooks.on_tool_timing, agent=name) for spec in self._tools[name]
        ]
        handoffs = [Handoff(target=t) for t in agent.handoffs] if self.tools_enabled else []
        if self.tools_enabled and hooks.mcp_tools and (MCP_GROUP in agent.tools or "*" in agent.tools):
            candidates = [
                McpTool(connection, schema, hooks.deps, agent=name, on_timing=hooks.on_tool_timing)
                for connection, schema in hooks.mcp_tools
            ]
            base = [t.schema for t in tools] + [h.handoff_tool.schema for h in handoffs]
            offered, left = self._fitting(name, base, candidates)
            tools += offered
            if left:
                left_out[name] = left
        system_message = self._system[name]

        def on_delta(text: str) -> None:
            hooks.on_delta(name, text)

        def on_result(result: CreateResult, seconds: float) -> None:
            prompt, completion = result.usage.prompt_tokens, result.usage.completion_tokens
            reported = bool(prompt or completion)
            if not reported:  # llama-cpp-python (the embedded model) reports no usage on streams
                content = result.content
                text = content if isinstance(content, str) else json.dumps([[c.name, c.arguments] for c in content])
                completion = self.counter.count_text(text)
            hooks.on_result(name, prompt, completion, seconds, reported)

        tap = StreamingTap(
            self.model_client,
            on_delta=on_delta,
            on_result=on_result,
            on_request=hooks.on_request,
            first_delta_out=hooks.first_delta_out,
        )
        s = self.settings
        schemas: list[Any] = [t.schema for t in tools] + [h.handoff_tool.schema for h in handoffs]
        context = BudgetedChatCompletionContext(
            counter=self.counter,
            budget=s.context_budget,
            reserve=s.context_reserve,
            safety_margin=self.safety_margin,
            system_messages=[SystemMessage(content=system_message)],
            tool_schemas=schemas,
            summarizer=ModelSummarizer.for_budget(
                StreamingTap(self.model_client, on_request=hooks.on_request),  # summaries are not streamed
                self.counter,
                budget=s.context_budget,
                reserve=s.context_reserve,
                safety_margin=self.safety_margin,
                summary_ratio=s.context_summary_ratio,
            ),
            recent_messages=s.context_recent_messages,
            summary_ratio=s.context_summary_ratio,
            agent_name=name,
            on_report=hooks.on_context,
        )
        contexts[name] = context
        return AssistantAgent(
            name,
            model_client=tap,
            tools=tools or None,  # type: ignore[arg-type]
            handoffs=handoffs or None,  # type: ignore[arg-type]
            model_context=context,
            description=agent.description,
            system_message=system_message,
            model_client_stream=False,
            reflect_on_tool_use=agent.reflect_on_tool_use if tools else False,
            max_tool_iterations=agent.max_tool_iterations,
        )
