"""MCP servers' tools as AutoGen tools of one session's agents (``<server>__<tool>``).

Each call passes the session's approval gate first (MCP tools of servers not marked ``trusted``
ask under ``APPROVAL_POLICY=risky``), then goes to the session's connection to that server
(``tools/mcp.py``: timeouts, stop, restart). As with the built-in tools, a cancelled call returns a
"cancelled" result instead of raising (autogen#7956), and a failed call is a clear tool error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from autogen_core import CancellationToken
from autogen_core.tools import BaseTool, ToolSchema
from pydantic import BaseModel, ConfigDict

from ..errors import ToolError
from ..tools.mcp import McpConnection
from ..tools.mcp_config import tool_name
from ..tools.registry import ToolDeps
from .tools import CANCELLED_RESULT, TimingSink


class _AnyArgs(BaseModel):
    """MCP tools validate their own arguments (their schema is the server's)."""

    model_config = ConfigDict(extra="allow")


class _Result(BaseModel):
    pass


class McpTool(BaseTool[_AnyArgs, _Result]):
    def __init__(
        self,
        connection: McpConnection,
        schema: ToolSchema,
        deps: ToolDeps,
        *,
        agent: str,
        on_timing: TimingSink | None = None,
    ) -> None:
        self.server = connection.spec.name
        self.tool = schema["name"]
        name = tool_name(self.server, self.tool)
        description = (schema.get("description") or f"{self.tool} (MCP server {self.server})")[:1024]
        super().__init__(_AnyArgs, _Result, name, description)
        parameters = dict(schema.get("parameters") or {"type": "object", "properties": {}})
        self._schema: ToolSchema = {"name": name, "description": description, "parameters": parameters}  # type: ignore[typeddict-item]
        self._connection = connection
        self._deps = deps
        self._agent = agent
        self._on_timing = on_timing

    @property
    def schema(self) -> ToolSchema:
        return self._schema

    async def run(self, args: _AnyArgs, cancellation_token: CancellationToken) -> Any:
        return await self.run_json(args.model_dump(), cancellation_token)

    async def run_json(
        self, args: Mapping[str, Any], cancellation_token: CancellationToken, call_id: str | None = None
    ) -> Any:
        started = time.monotonic()
        try:
            arguments = dict(args)
            gate = self._deps.approvals
            if gate is not None:
                denial = await gate.check(self._agent, self.name, arguments)
                if denial is not None:
                    return denial
            text, is_error = await self._connection.call(self.tool, arguments)
            if is_error:
                raise ToolError(f"{self.name} failed: {text or 'no details'}")
            return text
        except asyncio.CancelledError:
            return CANCELLED_RESULT
        finally:
            if self._on_timing is not None and call_id:
                self._on_timing(call_id, time.monotonic() - started)

    def return_value_as_string(self, value: Any) -> str:
        return value if isinstance(value, str) else str(value)
