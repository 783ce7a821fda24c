#!/usr/bin/env bash
# Make a Docker engine available for the sandbox. Idempotent:
#   1. a working `docker info` (any client on PATH, then /usr/bin/docker) -> exit 0 at once;
#   2. no dockerd binary -> apt-get install docker.io (root, Debian/Ubuntu);
#   3. start the daemon: `systemctl start docker` when systemd is init, otherwise `dockerd` directly
#      in the background (nohup, log in $DOCKERD_LOG) -- CI containers have no systemd;
#   4. wait up to $DOCKER_WAIT seconds for `docker info`.
# It never stops or restarts a daemon that is already running.
#
# Env: DOCKERD_LOG (default /tmp/dockerd.log), DOCKER_WAIT (default 60), DOCKERD_ARGS (extra
#      dockerd flags, e.g. "--iptables=false" where the host forbids iptables).
# Prints the working client's path on stdout (export DOCKER=<it> for build_sandbox_image.sh).
set -euo pipefail

LOG="${DOCKERD_LOG:-/tmp/dockerd.log}"
WAIT="${DOCKER_WAIT:-60}"
log() { echo "[install_docker] $*" >&2; }

# A newer client (e.g. /usr/local/bin/docker) negotiates the API version down to the daemon's;
# if one cannot, another may: use the first that works.
working_client() {
    local c
    for c in docker /usr/bin/docker /usr/local/bin/docker; do
        if command -v "$c" >/dev/null 2>&1 && timeout 10 "$c" info >/dev/null 2>&1; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

if client="$(working_client)"; then
    log "docker engine already running (client $client)"
    echo "$client"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        log "dockerd is not installed and installing it needs root"; exit 1
    fi
    log "installing docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends docker.io >&2 \
        || { apt-get update >&2 && apt-get install -y --no-install-recommends docker.io >&2; }
fi

if pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd is running but not answering yet; waiting"
elif [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    log "starting docker with systemctl"
    systemctl start docker >&2 || log "systemctl start docker failed; see journalctl -u docker"
else
    if [ "$(id -u)" != 0 ]; then
        log "dockerd is not running and starting it needs root"; exit 1
    fi
    log "starting dockerd directly (log: $LOG)"
    # shellcheck disable=SC2086  # DOCKERD_ARGS is a list of flags
    nohup dockerd ${DOCKERD_ARGS:-} >>"$LOG" 2>&1 </dev/null &
fi

for _ in $(seq 1 "$WAIT"); do
    if client="$(working_client)"; then
        log "docker engine ready (client $client)"
        echo "$client"
        exit 0
    fi
    sleep 1
done
log "docker engine did not come up within ${WAIT}s; last lines of $LOG:"
tail -n 20 "$LOG" >&2 2>/dev/null || true
exit 1
