#!/usr/bin/env bash
# Start the server only (expects .venv to exist: scripts/run.sh creates it). Settings come from
# the environment and .env; see docs/configuration.md.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
[ -x "$PY" ] || die "no .venv yet: run scripts/run.sh once"
host="${HOST:-127.0.0.1}"
port="${PORT:-8765}"
log "starting on http://$host:$port/ (Ctrl+C stops it)"
exec "$PY" -m backend "$@"
