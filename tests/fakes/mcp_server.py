"""A small MCP tool server for the tests, run with the MCP servers' own venv (mcp 2.x):

    .mcp-venv/bin/python -m agentchat_fake_mcp stdio        (scripts/install_mcp_servers.sh copies it there)
    .mcp-venv/bin/python -m agentchat_fake_mcp http PORT    (streamable HTTP at /mcp)

Tools: ``echo`` (answers its text), ``add`` (two numbers), ``hang`` (never answers: the caller's
timeout and stop must deal with it), ``pid`` (the server's process id, to check it was killed).
This file imports nothing from the product: it runs in another venv.
"""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("fake-tools")


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
def pid() -> str:
    """This server's process id."""
    return str(os.getpid())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "http":
        port = int(sys.argv[2])
        asyncio.run(server.run_streamable_http_async(host="127.0.0.1", port=port))
    else:
        server.run("stdio")
