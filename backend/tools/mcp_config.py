"""MCP tool servers: their configuration (pure: parsing and validation only).

Servers come from the team file (``"mcp_servers": [...]``), from ``MCP_SERVERS`` (the same list as
JSON, or a path to a JSON file) and from ``MCP_URL`` (one streamable-HTTP server, the earlier
streaming agent's setting, named ``mcp``). Each is a stdio command (``command``, ``args``, ``env``)
or a streamable-HTTP ``url`` (with ``headers``); ``trusted`` servers' tools run without asking
under ``APPROVAL_POLICY=risky``; ``timeout`` bounds every call (and the start).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SERVER_NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,31}$"
#: a tool is offered to the model as ``<server>__<tool>``
SEPARATOR = "__"


class McpServerSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=SERVER_NAME)]
    command: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    args: tuple[Annotated[str, Field(max_length=4096)], ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    url: Annotated[str, Field(max_length=2048)] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    trusted: bool = False
    timeout: Annotated[float, Field(gt=0, le=3600)] = 30.0

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSpec:
        if (self.command is None) == (self.url is None):
            raise ValueError(f"MCP server {self.name!r} needs exactly one of 'command' (stdio) or 'url' (HTTP)")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"MCP server {self.name!r}: url must be http(s)")
        return self

    @property
    def transport(self) -> str:
        return "stdio" if self.command is not None else "streamable-http"


def tool_name(server: str, tool: str) -> str:
    """The name the model sees: ``<server>__<tool>``, in the characters OpenAI allows, at most 64."""
    safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in tool)
    return f"{server}{SEPARATOR}{safe}"[:64]


def parse_servers(raw: Any, *, source: str) -> list[McpServerSpec]:
    """A list of server objects (or ``{"servers": [...]}``) as specs; a clear error naming ``source``."""
    if isinstance(raw, dict) and "servers" in raw:
        raw = raw["servers"]
    if not isinstance(raw, list):
        raise ValueError(f"{source}: expected a JSON list of MCP servers")
    try:
        return [McpServerSpec.model_validate(item) for item in raw]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{source}: {where}: {first['msg']}") from None


def from_environment(mcp_servers: str | None, mcp_url: str | None) -> list[McpServerSpec]:
    """``MCP_SERVERS`` (JSON or a path to a JSON file) and ``MCP_URL``."""
    servers: list[McpServerSpec] = []
    if mcp_servers:
        text = mcp_servers.strip()
        if not text.startswith(("[", "{")):
            path = Path(text).expanduser()
            try:
                text = path.read_text()
            except OSError as exc:
                raise ValueError(f"MCP_SERVERS: cannot read {path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"MCP_SERVERS is not valid JSON: {exc}") from None
        servers += parse_servers(data, source="MCP_SERVERS")
    if mcp_url:
        servers.append(McpServerSpec(name="mcp", url=mcp_url))
    return servers


def merge(*groups: list[McpServerSpec]) -> list[McpServerSpec]:
    """Every server once: a later group may not reuse a name (a clear error instead of a surprise)."""
    seen: dict[str, McpServerSpec] = {}
    for group in groups:
        for spec in group:
            if spec.name in seen:
                raise ValueError(f"two MCP servers are named {spec.name!r}")
            seen[spec.name] = spec
    return list(seen.values())
