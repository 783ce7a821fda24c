"""Team presets are data: a small JSON schema validated here, never code paths.

``TEAM`` names a preset shipped in ``backend/team/presets`` (``default``, ``solo``) or a path to a
user's own JSON file. See docs/configuration.md for the schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import TeamSpecError
from ..tools.mcp_config import McpServerSpec

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
AgentName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")]


class AgentSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: AgentName
    description: str = "An assistant."
    #: ``{system_prompt}`` is replaced by SYSTEM_PROMPT / AGENT_SYSTEM_PROMPT / system_prompt.txt.
    system_message: str = "{system_prompt}"
    #: Tool names or group names ("terminal", "todos", "reminders", "questions", "sandbox"); "*" = all.
    tools: tuple[str, ...] = ()
    handoffs: tuple[AgentName, ...] = ()
    reflect_on_tool_use: bool = True
    max_tool_iterations: Annotated[int, Field(ge=1, le=10)] = 3


class TeamSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    kind: Literal["round_robin", "swarm"]
    agents: Annotated[tuple[AgentSpec, ...], Field(min_length=1)]
    #: The agent every user turn starts with (swarm). Defaults to the first agent.
    entry: AgentName | None = None
    #: Round robin: agent turns per user turn. Swarm: ignored (a text answer ends the turn).
    max_turns: Annotated[int, Field(ge=1, le=50)] | None = None
    #: Hard cap on messages per user turn (tool events excluded), on top of max_turns.
    max_messages: Annotated[int, Field(ge=2, le=100)] | None = None
    #: per-tool approval policy (never | risky | always), over APPROVAL_POLICY
    approvals: dict[str, Literal["never", "risky", "always"]] = Field(default_factory=dict)
    #: MCP tool servers (stdio commands or streamable-HTTP URLs); their tools go to agents holding "mcp" or "*"
    mcp_servers: tuple[McpServerSpec, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> TeamSpec:
        names = [a.name for a in self.agents]
        if len(set(names)) != len(names):
            raise ValueError(f"agent names must be unique: {names}")
        if self.entry is not None and self.entry not in names:
            raise ValueError(f"entry {self.entry!r} is not an agent of the team")
        for agent in self.agents:
            for target in agent.handoffs:
                if target not in names or target == agent.name:
                    raise ValueError(f"agent {agent.name!r} hands off to unknown agent {target!r}")
        if self.kind == "round_robin" and any(a.handoffs for a in self.agents):
            raise ValueError("handoffs need kind 'swarm'")
        return self

    @property
    def entry_agent(self) -> str:
        return self.entry or self.agents[0].name


def load_team_spec(team: str | None) -> TeamSpec:
    """``None`` -> the ``default`` preset; a bare name -> a shipped preset; else a file path."""
    name = team or "default"
    path = PRESETS_DIR / f"{name}.json" if "/" not in name and not name.endswith(".json") else Path(name)
    if not path.is_file():
        shipped = sorted(p.stem for p in PRESETS_DIR.glob("*.json"))
        raise TeamSpecError(f"TEAM={name!r}: no such preset or file (shipped presets: {', '.join(shipped)})")
    try:
        return TeamSpec.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        raise TeamSpecError(f"TEAM={name!r}: invalid team file {path}: {exc}") from None
