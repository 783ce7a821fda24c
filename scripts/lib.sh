# Shared helpers for the scripts in this directory. Source it; don't run it.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;33m!!\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31mxx\033[0m %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

# apt_install PKG... : install Debian packages when running as root (no-op when present).
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! is_root || ! command -v apt-get >/dev/null; then
        warn "missing Debian packages: ${missing[*]} (install them, or run as root)"
        return 1
    fi
    log "apt-get install ${missing[*]}"
    if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mmin -1440 2>/dev/null | head -1)" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# find_python: a Python >= 3.11 to create the virtualenv with.
find_python() {
    local candidate
    for candidate in "${PYTHON_BIN:-}" python3.11 python3.12 python3.13 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    die "Python 3.11 or newer is required (set PYTHON_BIN to choose one)"
}

ensure_venv() {
    if [ ! -x "$PY" ]; then
        local base
        base="$(find_python)"
        if ! "$base" -c 'import venv, ensurepip' 2>/dev/null; then
            apt_install python3-venv || die "python3-venv is needed to create .venv"
        fi
        log "creating $VENV with $base"
        "$base" -m venv "$VENV"
        "$PY" -m pip install -q --upgrade pip
    fi
}

# pip_sync NAME FILE...: install requirement files unless they are unchanged since the last install.
pip_sync() {
    local name="$1"; shift
    local stamp="$VENV/.stamp-$name" sum
    sum="$(cat "$@" | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
        return 0
    fi
    log "installing Python packages ($name)"
    # llama-cpp-python compiles llama.cpp: build it portable (AVX2, no -march=native). A native build
    # on a CPU that advertises AMX crashes (SIGSEGV) on every batched prompt where the hypervisor
    # does not enable AMX tiles, which is common on cloud VMs.
    export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
    local args=()
    for file in "$@"; do args+=(-r "$file"); done
    "$PY" -m pip install -q --disable-pip-version-check "${args[@]}"
    echo "$sum" >"$stamp"
}
