#!/usr/bin/env bash
# Install everything the tests need when it is missing (Python packages, the Docker engine and
# the sandbox image, Chromium, the frontend's vendor files), check the code, run the whole suite.
# Idempotent. Extra arguments go to pytest (e.g. scripts/test.sh -m "not slow" -x).
#
# REQUIRE_DOCKER / REQUIRE_BROWSER / REQUIRE_EMBEDDED / REQUIRE_POSTGRES / REQUIRE_HAPROXY / REQUIRE_BWRAP /
# REQUIRE_MCP=1
# (set by .ci/run) turn a missing
# capability into a failure instead of a skipped test.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

need() { # need VAR description: fail when VAR=1, else warn (the tests will skip with a reason)
    if [ "${!1:-0}" = 1 ]; then die "$2 ($1=1)"; fi
    warn "$2; those tests will be skipped"
}

ensure_venv
pip_sync dev requirements-dev.txt requirements-embedded.txt

if bash scripts/install_docker.sh; then
    bash scripts/build_sandbox_image.sh || need REQUIRE_DOCKER "could not build the sandbox image"
else
    need REQUIRE_DOCKER "no Docker engine"
fi

# optional programs the terminal skill allows (their argument rules are tested against the real binaries)
# the terminal skill confines every host command with bubblewrap (and setpriv, from util-linux)
if ! command -v bwrap >/dev/null 2>&1; then
    apt_install bubblewrap || need REQUIRE_BWRAP "bubblewrap is not installed (the terminal skill is disabled without it)"
fi
apt_install ripgrep tree || warn "ripgrep/tree not installed; their real-binary tests are skipped"

# PostgreSQL binaries for the store's second engine and the cluster tests (each test session starts
# its own throwaway server with initdb/pg_ctl; the package's own cluster is not used)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    apt_install postgresql || need REQUIRE_POSTGRES "PostgreSQL is not installed"
fi
# HAProxy in front of the cluster tests' three processes (and scripts/cluster.sh)
command -v haproxy >/dev/null 2>&1 || apt_install haproxy || need REQUIRE_HAPROXY "HAProxy is not installed"

if ! command -v chromium >/dev/null 2>&1; then
    apt_install chromium || need REQUIRE_BROWSER "Chromium is not installed"
fi

# MCP tool servers (mcp-server-time, mcp-server-git and the tests' own) in their own venv, .mcp-venv
bash scripts/install_mcp_servers.sh || need REQUIRE_MCP "the MCP servers could not be installed"

bash scripts/build_frontend.sh || need REQUIRE_BROWSER "the frontend's vendor files could not be built"

bash scripts/check.sh

log "pytest"
set +e
"$PY" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    die "pytest collected no tests: that is a failure, not a pass"
fi
exit "$status"
