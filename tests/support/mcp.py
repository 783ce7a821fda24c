"""Where the MCP servers the tests run live: .mcp-venv (scripts/install_mcp_servers.sh)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import require

REPO = Path(__file__).resolve().parents[2]
MCP_VENV = REPO / ".mcp-venv"


def mcp_python() -> str:
    """The MCP venv's Python (it has mcp 2.x, mcp-server-time and the tests' agentchat_fake_mcp)."""
    python = MCP_VENV / "bin" / "python"
    marker = MCP_VENV / "bin" / "mcp-server-time"
    if not python.exists() or not marker.exists():
        require("REQUIRE_MCP", "the MCP servers are not installed (scripts/install_mcp_servers.sh)")
    return str(python)


def time_server() -> str:
    mcp_python()
    return str(MCP_VENV / "bin" / "mcp-server-time")


def fake_server(*args: str) -> dict[str, object]:
    """A stdio server spec (team file / MCP_SERVERS form) for the tests' own MCP server."""
    return {"command": mcp_python(), "args": ["-m", "agentchat_fake_mcp", "stdio", *args]}
