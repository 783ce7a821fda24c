"""A small MCP tool server for the tests, run with the MCP servers' own venv (mcp 2.x):

    .mcp-venv/bin/python -m agentchat_fake_mcp stdio        (scripts/install_mcp_servers.sh copies it there)
    .mcp-venv/bin/python -m agentchat_fake_mcp http PORT    (streamable HTTP at /mcp)

Tools: ``echo`` (answers its text), ``add`` (two numbers), ``hang`` (never answers: the caller's
timeout and stop must deal with it), ``pid`` (the server's process id), ``flood`` (1 MB of text),
``die`` (the process exits mid-call). Hostile modes after ``stdio``: ``--hang-list`` (tools/list
never answers), ``--bad-schema`` (a tool whose input schema is invalid: the SDK answers tools/list with an error).
This file imports nothing from the product: it runs in another venv.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer


class FakeServer(MCPServer):
    async def list_tools(self) -> list[Any]:
        tools = list(await super().list_tools())
        if "--hang-list" in sys.argv:
            await asyncio.sleep(3600)
        if "--bad-schema" in sys.argv:
            tools.append(
                tools[0].model_copy(
                    update={"name": "broken", "input_schema": {"type": "object", "properties": {"x": 5}}}
                )
            )
        return tools


server = FakeServer("fake-tools")


@server.tool()
def echo(text: str) -> str:
    """Answer the text back."""
    return f"echo: {text}"


@server.tool()
def add(a: float, b: float) -> str:
    """Add two numbers."""
    return str(a + b)


@server.tool()
async def hang(seconds: float = 3600) -> str:
    """Wait (far longer than any timeout)."""
    await asyncio.sleep(seconds)
    return "woke up"


@server.tool()
def flood() -> str:
    """A megabyte of text."""
    return "x" * 1_000_000


@server.tool()
def die() -> str:
    """Exit in the middle of the call."""
    os._exit(3)


@server.tool()
def pid() -> str:
    """This server's process id."""
    return str(os.getpid())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "http":
        port = int(sys.argv[2])
        asyncio.run(server.run_streamable_http_async(host="127.0.0.1", port=port))
    else:
        server.run("stdio")
