# The per-session sandbox image (agent-sandbox:latest). Build it with scripts/build_sandbox_image.sh,
# which falls back to a debootstrap root filesystem with the same layout when no registry is reachable.
#
# BASE_IMAGE (build arg, default debian:bookworm-slim) may point at a mirror or a local Debian 12 image.
#
# Layout contract (the rootfs path reproduces it exactly; the sandbox manager relies on it):
#   - Debian 12 minimal + python3, procps, ca-certificates; /bin/sh, /bin/bash, coreutils `timeout`
#   - user `sandbox`, uid/gid 1000, home /home/sandbox, shell /bin/sh
#   - /workspace owned by 1000:1000 (at run time a tmpfs is mounted over it)
#   - USER 1000:1000, WORKDIR /workspace, CMD sleep infinity
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3 procps ca-certificates; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/* \
           /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/*; \
    groupadd --gid 1000 sandbox; \
    useradd --uid 1000 --gid 1000 --create-home --home-dir /home/sandbox --shell /bin/sh sandbox; \
    mkdir -p /workspace; \
    chown 1000:1000 /workspace

LABEL org.opencontainers.image.title="agent-sandbox" \
      org.opencontainers.image.description="Per-session sandbox for agentchat tools"
USER 1000:1000
WORKDIR /workspace
CMD ["sleep", "infinity"]
