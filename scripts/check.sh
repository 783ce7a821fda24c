#!/usr/bin/env bash
# Lint, format check and type check (ruff + mypy), as CI runs them.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
log "ruff check"
"$PY" -m ruff check backend tests scripts
log "ruff format --check"
"$PY" -m ruff format --check backend tests scripts
log "mypy (strict) on backend/"
"$PY" -m mypy
