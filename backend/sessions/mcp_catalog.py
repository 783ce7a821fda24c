"""The configured MCP servers and the tools they offer, for the tool listings (``tools``, ``/v1/skills``).

A session lists its servers' tools when it builds its team (and reports them here); the listing
asks a server itself only when no session has yet (a short-lived connection, closed at once).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import ToolError
from ..settings import Settings
from ..tools.mcp import McpConnection
from ..tools.mcp_config import SEPARATOR, McpServerSpec, tool_name


class McpCatalog:
    def __init__(self, servers: list[McpServerSpec], settings: Settings) -> None:
        self.servers = servers
        self._settings = settings
        self._tools: dict[str, list[dict[str, Any]]] = {}
        self._errors: dict[str, str] = {}
        self._lock = asyncio.Lock()

    def record(self, server: str, schemas: list[Any]) -> None:
        self._tools[server] = [{"tool": s["name"], "description": s.get("description", "")} for s in schemas]
        self._errors.pop(server, None)

    async def describe(self) -> list[dict[str, Any]]:
        """One entry per tool (``<server>__<tool>``), or per server that could not be listed."""
        async with self._lock:
            for spec in self.servers:
                if spec.name in self._tools:
                    continue
                connection = McpConnection(spec, self._settings)
                try:
                    self.record(spec.name, await connection.list_tools())
                except ToolError as exc:
                    self._errors[spec.name] = exc.message
                finally:
                    await connection.close()
        out: list[dict[str, Any]] = []
        for spec in self.servers:
            common = {"group": "mcp", "server": spec.name, "transport": spec.transport, "trusted": spec.trusted}
            if spec.name in self._errors:
                out.append(
                    {"name": f"{spec.name}{SEPARATOR}*", "description": "", "error": self._errors[spec.name], **common}
                )
                continue
            for tool in self._tools.get(spec.name, []):
                out.append({"name": tool_name(spec.name, tool["tool"]), "description": tool["description"], **common})
        return out
