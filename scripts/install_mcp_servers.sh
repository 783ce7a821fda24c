#!/usr/bin/env bash
# Install the MCP tool servers (requirements-mcp-servers.txt) into their own venv, .mcp-venv, built
# from the system Python (/usr/bin/python3) so that a confined server running as nobody can execute
# it (a pyenv Python under /root is not reachable there). Idempotent: a stamp skips a second run.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

MCP_VENV="$ROOT/.mcp-venv"
REQS="$ROOT/requirements-mcp-servers.txt"
STAMP="$MCP_VENV/.stamp"
FAKE="$ROOT/tests/fakes/mcp_server.py"  # the tests' own MCP server, run as: python -m agentchat_fake_mcp
sum="$(cat "$REQS" "${BASH_SOURCE[0]}" "$FAKE" | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$sum" ]; then
    exit 0
fi
SYSTEM_PY="${MCP_PYTHON:-/usr/bin/python3}"
if [ ! -x "$SYSTEM_PY" ]; then
    apt_install python3 || die "no system Python for the MCP servers' venv"
fi
if ! "$SYSTEM_PY" -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install python3-venv || die "python3-venv is needed for .mcp-venv"
fi
log "installing the MCP servers into $MCP_VENV"
rm -rf "$MCP_VENV"
"$SYSTEM_PY" -m venv "$MCP_VENV"
"$MCP_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS"
site="$("$MCP_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cp "$FAKE" "$site/agentchat_fake_mcp.py"
chmod -R a+rX "$MCP_VENV"
echo "$sum" >"$STAMP"
