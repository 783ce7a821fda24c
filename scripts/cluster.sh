#!/usr/bin/env bash
# A local cluster: a throwaway PostgreSQL under DATA_DIR, N server processes on consecutive ports,
# HAProxy in front on the usual port (round robin, no stickiness). docs/scaling.md explains it.
#
#   scripts/cluster.sh 3        start (PORT, default 8765: HAProxy; the nodes use PORT+1 .. PORT+N)
#   scripts/cluster.sh status   what runs, and each node's /healthz instance
#   scripts/cluster.sh stop     stop HAProxy, the nodes and PostgreSQL (the data stays)
#
# Root is not needed: PostgreSQL runs as the calling user (as "postgres" via runuser when root).
# Model settings come from the environment / .env as for scripts/run.sh (LLM_EMBEDDED=0 by
# default here: one embedded model per process is heavy; set LLM_BASE_URL or similar).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

DATA_DIR="${DATA_DIR:-$ROOT/data}"
DIR="$DATA_DIR/cluster"
PORT="${PORT:-8765}"
HOST="${HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-55432}"
PGDATA="$DIR/pg"
SOCK="$DIR/pgsock"

pg_bindir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    if [ -n "$dir" ]; then echo "$dir"; else dirname "$(command -v initdb)"; fi
}

as_pg() { # run a PostgreSQL binary as an unprivileged user
    if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_pg() {
    local bin
    bin="$(pg_bindir)"
    mkdir -p "$DIR" "$SOCK"
    if is_root; then chown postgres:postgres "$DIR" "$SOCK"; fi
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        log "initdb $PGDATA"
        as_pg "$bin/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 >/dev/null
    fi
    if ! as_pg "$bin/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
        log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
        as_pg "$bin/pg_ctl" -D "$PGDATA" -l "$DIR/postgres.log" -w start \
            -o "-k $SOCK -p $PG_PORT -c listen_addresses=127.0.0.1 -c max_connections=200" >/dev/null
    fi
    as_pg "$bin/psql" -h "$SOCK" -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='agentchat'" |
        grep -q 1 || as_pg "$bin/createdb" -h "$SOCK" -p "$PG_PORT" -U postgres agentchat
}

stop_all() {
    local pidfile
    for pidfile in "$DIR"/haproxy.pid "$DIR"/node*.pid; do
        [ -f "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
    rm -f "$DIR"/node*.port
    if [ -f "$PGDATA/PG_VERSION" ]; then
        as_pg "$(pg_bindir)/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
    fi
    log "stopped"
}

status() {
    local pidfile
    for pidfile in "$DIR"/node*.pid "$DIR"/haproxy.pid; do
        [ -f "$pidfile" ] || continue
        if kill -0 "$(cat "$pidfile")" 2>/dev/null; then echo "$(basename "$pidfile" .pid): running"; else echo "$(basename "$pidfile" .pid): dead"; fi
    done
    for port_file in "$DIR"/node*.port; do
        [ -f "$port_file" ] || continue
        curl -s "http://127.0.0.1:$(cat "$port_file")/healthz" |
            "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["instance"], d["cluster"]["owned"], "sessions owned")' \
                2>/dev/null || echo "$(basename "$port_file" .port): no answer"
    done
}

start() {
    local n="$1" i port url
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "usage: scripts/cluster.sh N | status | stop"
    ensure_venv
    pip_sync runtime-core requirements.txt
    bash scripts/build_frontend.sh
    command -v haproxy >/dev/null || apt_install haproxy || die "HAProxy is needed (apt-get install haproxy)"
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null ||
        apt_install postgresql || die "PostgreSQL is needed (apt-get install postgresql)"
    stop_all 2>/dev/null
    start_pg
    url="postgresql://postgres@127.0.0.1:$PG_PORT/agentchat"
    cfg="$DIR/haproxy.cfg"
    sed "s|\"\${BIND}\"|$HOST:$PORT|" deploy/haproxy.cfg >"$cfg"
    for i in $(seq 1 "$n"); do
        port=$((PORT + i))
        mkdir -p "$DIR/node$i"
        log "node$i on $HOST:$port"
        DATABASE_URL="$url" INSTANCE_ID="node$i" HOST="$HOST" PORT="$port" DATA_DIR="$DIR/node$i" \
            LLM_EMBEDDED="${LLM_EMBEDDED:-0}" nohup "$PY" -m backend >"$DIR/node$i.log" 2>&1 &
        echo $! >"$DIR/node$i.pid"
        echo "$port" >"$DIR/node$i.port"
        echo "    server node$i 127.0.0.1:$port check" >>"$cfg"
    done
    for i in $(seq 1 "$n"); do
        port=$((PORT + i))
        for _ in $(seq 1 120); do
            curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break
            kill -0 "$(cat "$DIR/node$i.pid")" 2>/dev/null || die "node$i exited: see $DIR/node$i.log"
            sleep 0.5
        done
    done
    haproxy -D -f "$cfg" -p "$DIR/haproxy.pid"
    log "cluster of $n up: http://$HOST:$PORT/ (HAProxy) · logs in $DIR · scripts/cluster.sh stop"
}

case "${1:-}" in
    stop) stop_all ;;
    status) status ;;
    "") die "usage: scripts/cluster.sh N | status | stop" ;;
    *) start "$1" ;;
esac
