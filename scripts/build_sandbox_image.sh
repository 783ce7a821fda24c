#!/usr/bin/env bash
# Build the sandbox image (default agent-sandbox:latest). Idempotent: exits 0 at once if the image
# exists, unless --force.
#
# Two ways, same result (see docs/sandbox.md):
#   dockerfile  docker build -f docker/sandbox.Dockerfile   (needs the base image or a registry)
#   rootfs      debootstrap a Debian 12 minbase root filesystem, add the same user and layout,
#               then `docker import` it (needs only a Debian mirror; works offline from registries)
# SANDBOX_BUILD=auto (default) picks dockerfile when debian:bookworm-slim is present locally or a
# quick `docker pull` succeeds, rootfs otherwise.
#
# Usage: scripts/build_sandbox_image.sh [--force] [--mode auto|dockerfile|rootfs] [--image NAME]
# Env:   SANDBOX_IMAGE, SANDBOX_BUILD, SANDBOX_BASE_IMAGE (dockerfile base, default
#        debian:bookworm-slim), DEBIAN_MIRROR (default: from /etc/apt sources, else
#        http://deb.debian.org/debian), DEBIAN_SUITE (bookworm), DOCKER (client binary, default docker),
#        PULL_TIMEOUT (seconds for the registry probe, default 20)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="${SANDBOX_IMAGE:-agent-sandbox:latest}"
MODE="${SANDBOX_BUILD:-auto}"
SUITE="${DEBIAN_SUITE:-bookworm}"
BASE_IMAGE="${SANDBOX_BASE_IMAGE:-debian:${SUITE}-slim}"
DOCKER="${DOCKER:-docker}"
PULL_TIMEOUT="${PULL_TIMEOUT:-20}"
FORCE=0

while [ $# -gt 0 ]; do
    case "$1" in
        --force|-f) FORCE=1 ;;
        --mode) MODE="$2"; shift ;;
        --mode=*) MODE="${1#--mode=}" ;;
        --image) IMAGE="$2"; shift ;;
        --image=*) IMAGE="${1#--image=}" ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

log() { echo "[build_sandbox_image] $*" >&2; }
START=$(date +%s)
done_msg() { log "$IMAGE ready ($1, $(( $(date +%s) - START ))s)"; }

if ! "$DOCKER" info >/dev/null 2>&1; then
    log "docker engine not reachable (run scripts/install_docker.sh first)"; exit 1
fi

if [ "$FORCE" = 0 ] && "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE already exists (use --force to rebuild)"; exit 0
fi

if [ "$MODE" = auto ]; then
    if "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        MODE=dockerfile
    elif timeout "$PULL_TIMEOUT" "$DOCKER" pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
        MODE=dockerfile
    else
        log "registry not reachable (docker pull $BASE_IMAGE failed): building from a debootstrap rootfs"
        MODE=rootfs
    fi
fi

build_dockerfile() {
    "$DOCKER" build --pull=false --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        -t "$IMAGE" -f "$ROOT/docker/sandbox.Dockerfile" "$ROOT/docker"
}

debian_mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
    local uri
    # deb822 sources first (URIs: ...), then one-line sources (deb URL suite ...); skip -security.
    uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
    if [ -z "$uri" ]; then
        uri=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
              | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

build_rootfs() {
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2 \
            || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2; }
    fi
    local dir mirror keyring=()
    ROOTFS_DIR="$(mktemp -d /tmp/sandbox-rootfs.XXXXXX)"
    trap 'rm -rf "${ROOTFS_DIR:-}"' EXIT
    dir="$ROOTFS_DIR"
    mirror="$(debian_mirror)"
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] \
        && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    log "debootstrap $SUITE from $mirror into $dir"
    debootstrap --variant=minbase --include=python3,procps,ca-certificates "${keyring[@]}" \
        "$SUITE" "$dir" "$mirror" >&2
    # Same user and layout as the Dockerfile.
    chroot "$dir" groupadd --gid 1000 sandbox
    chroot "$dir" useradd --uid 1000 --gid 1000 --create-home --home-dir /home/sandbox --shell /bin/sh sandbox
    mkdir -p "$dir/workspace"
    chown 1000:1000 "$dir/workspace"
    # Strip caches, docs and anything host-specific that debootstrap copied in.
    chroot "$dir" apt-get clean
    rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/* "$dir"/var/cache/debconf/*-old \
           "$dir"/var/log/* "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
           "$dir"/usr/share/locale/* "$dir"/tmp/* "$dir"/root/.bash_history "$dir"/debootstrap
    : > "$dir/etc/resolv.conf"
    echo sandbox > "$dir/etc/hostname"
    tar --numeric-owner --xattrs -C "$dir" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . \
        | "$DOCKER" import \
            --change 'USER 1000:1000' \
            --change 'WORKDIR /workspace' \
            --change 'CMD ["sleep","infinity"]' \
            --change 'LABEL org.opencontainers.image.title=agent-sandbox' \
            --message "agent-sandbox rootfs ($SUITE minbase)" \
            - "$IMAGE" >&2
}

case "$MODE" in
    dockerfile) build_dockerfile ;;
    rootfs) build_rootfs ;;
    *) log "unknown mode $MODE (auto|dockerfile|rootfs)"; exit 2 ;;
esac
done_msg "$MODE"
