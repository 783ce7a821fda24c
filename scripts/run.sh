#!/usr/bin/env bash
# Set everything up (idempotent: a second run starts in seconds) and start the server.
# With no model configured it runs on the embedded SmolLM2-135M model.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv
# the terminal skill runs every host command confined by bubblewrap; without it the skill is disabled
command -v bwrap >/dev/null 2>&1 || apt_install bubblewrap || warn "bubblewrap missing: the terminal skill will be disabled"
if [ "${LLM_EMBEDDED:-1}" != 0 ]; then
    log "first run compiles llama-cpp-python (~4-10 min on 2 cores); later runs reuse pip's cache"
    pip_sync runtime requirements.txt requirements-embedded.txt
else
    pip_sync runtime-core requirements.txt
fi
bash scripts/build_frontend.sh
exec bash scripts/start_server.sh "$@"
