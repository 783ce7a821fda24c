"""Pure sandbox policy: the hardened container spec, labels, in-container paths and command wrapping.

Nothing here talks to Docker; :mod:`backend.sandbox.manager` passes these plain values to the SDK.
Every hardening choice is in :func:`container_kwargs` so one test can read the whole policy.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from pathlib import Path

from ..errors import SandboxUnavailableError, ToolError
from ..settings import Settings

WORKDIR = "/workspace"
LABEL_SANDBOX = "agentchat.sandbox"
LABEL_NAMESPACE = "agentchat.namespace"
LABEL_INSTANCE = "agentchat.instance"
LABEL_SESSION = "agentchat.session"
#: Every exec carries this variable; the host-side killer finds the exec's processes by it.
EXEC_MARKER = "SANDBOX_EXEC_ID"
#: The container's main process, under docker-init (``init=True`` reaps zombies): waits forever
#: and, on SIGUSR1, kills every process it can see but itself and init. Fork-free after start-up on
#: purpose: ``read -t`` on a FIFO it holds open both ways is its sleep and ``kill -9 -1`` is a
#: builtin, so it works, and survives, while a fork bomb holds every pid the container may have
#: (then not even an exec can start). ``kill -9 -1`` is atomic with respect to fork.
KEEPALIVE = [
    "/bin/bash",
    "-c",
    "mkfifo /tmp/.keepalive && exec 3<>/tmp/.keepalive || exit 1; rm -f /tmp/.keepalive; "
    'trap "kill -9 -1" USR1; while :; do read -r -t 86400 -u 3 _; done',
]
PANIC_SIGNAL = "SIGUSR1"
#: Output read past the cap is drained and dropped; past this many bytes the command is killed.
DRAIN_LIMIT = 4 * 1024 * 1024

#: The whole environment a sandbox process sees (plus the image's own ENV). Nothing from the host.
BASE_ENV: dict[str, str] = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": WORKDIR,
    "LANG": "C.UTF-8",
    "TERM": "dumb",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "TMPDIR": "/tmp",  # noqa: S108 - the container's own tmpfs
}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_FORBIDDEN_NETWORKS = ("host",)


def parse_size(value: str) -> int:
    """``"512m"`` -> bytes (binary units, as Docker reads them)."""
    match = _SIZE.match(value)
    if not match:
        raise SandboxUnavailableError(f"sandbox unavailable: bad size {value!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_user(user: str) -> tuple[int, int]:
    """``"1000:1000"`` -> (uid, gid). Root, names and missing parts are refused: the sandbox never runs as root."""
    uid_text, _, gid_text = user.partition(":")
    if not uid_text.isdigit() or (gid_text and not gid_text.isdigit()):
        raise SandboxUnavailableError(f"sandbox unavailable: SANDBOX_USER must be numeric uid[:gid], got {user!r}")
    uid = int(uid_text)
    gid = int(gid_text) if gid_text else uid
    if uid == 0 or gid == 0:
        raise SandboxUnavailableError("sandbox unavailable: SANDBOX_USER must not be root")
    return uid, gid


def namespace_for(data_dir: Path) -> str:
    """Label namespace of one server: a hash of its resolved data directory.

    Two servers on one engine with different data directories never touch each other's containers;
    two servers sharing a data directory would share the database too, which is not supported.
    """
    resolved = str(Path(data_dir).expanduser().resolve())
    return hashlib.sha256(resolved.encode()).hexdigest()[:12]


def container_name(namespace: str, session_id: str) -> str:
    digest = hashlib.sha256(session_id.encode()).hexdigest()[:12]
    return f"agentchat-sbx-{namespace}-{digest}"


def labels(namespace: str, instance_id: str, session_id: str) -> dict[str, str]:
    return {
        LABEL_SANDBOX: "1",
        LABEL_NAMESPACE: namespace,
        LABEL_INSTANCE: instance_id,
        LABEL_SESSION: session_id,
    }


def namespace_filter(namespace: str) -> dict[str, list[str]]:
    """Docker list filter for every container of one server namespace."""
    return {"label": [f"{LABEL_SANDBOX}=1", f"{LABEL_NAMESPACE}={namespace}"]}


def check_network(network: str) -> str:
    if network in _FORBIDDEN_NETWORKS or network.startswith("container:"):
        raise SandboxUnavailableError(f"sandbox unavailable: SANDBOX_NETWORK={network!r} is not allowed")
    return network


def limits(settings: Settings) -> dict[str, object]:
    """The limits a client sees in ``status``."""
    return {
        "memory": settings.sandbox_memory,
        "cpus": settings.sandbox_cpus,
        "pids": settings.sandbox_pids,
        "timeout": settings.sandbox_timeout,
        "output_limit": settings.sandbox_output_limit,
        "tmpfs_size": settings.sandbox_tmpfs_size,
        "network": settings.sandbox_network,
        "runtime": settings.sandbox_runtime or "default",
        "user": settings.sandbox_user,
    }


def container_kwargs(settings: Settings, *, namespace: str, instance_id: str, session_id: str) -> dict[str, object]:
    """Keyword arguments for ``client.containers.create``: the hardened, host-independent spec."""
    uid, gid = parse_user(settings.sandbox_user)
    memory = parse_size(settings.sandbox_memory)
    tmpfs_bytes = parse_size(settings.sandbox_tmpfs_size)
    tmpfs_common = f"rw,exec,nosuid,nodev,size={tmpfs_bytes}"
    kwargs: dict[str, object] = {
        "image": settings.sandbox_image,
        # sleep forever under docker-init (init=True reaps zombies); work arrives through execs.
        "entrypoint": KEEPALIVE,
        "name": container_name(namespace, session_id),
        "hostname": "sandbox",
        "labels": labels(namespace, instance_id, session_id),
        "user": f"{uid}:{gid}",
        "working_dir": WORKDIR,
        "environment": dict(BASE_ENV),  # explicit: nothing inherited from the host
        "network_mode": check_network(settings.sandbox_network),
        "read_only": True,
        "tmpfs": {
            "/tmp": f"{tmpfs_common},mode=1777",  # noqa: S108 - in-container tmpfs
            WORKDIR: f"{tmpfs_common},mode=0700,uid={uid},gid={gid}",
        },
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "privileged": False,
        "ipc_mode": "private",
        "shm_size": parse_size(settings.sandbox_shm_size),  # /dev/shm: writable, but capped
        "init": True,
        "pids_limit": settings.sandbox_pids,
        "mem_limit": memory,
        "memswap_limit": memory,  # equal to mem_limit: no swap
        "nano_cpus": int(settings.sandbox_cpus * 1_000_000_000),
        # RLIMIT_NPROC counts per uid across the whole host, so it would couple sessions; the
        # per-container pids_limit is the process cap instead.
        "ulimits": [
            {"name": "nofile", "soft": 1024, "hard": 1024},
            {"name": "fsize", "soft": tmpfs_bytes, "hard": tmpfs_bytes},
            {"name": "core", "soft": 0, "hard": 0},
        ],
        "log_config": {"type": "json-file", "config": {"max-size": "1m", "max-file": "1"}},
        "stop_signal": "SIGKILL",
    }
    if settings.sandbox_runtime:
        kwargs["runtime"] = settings.sandbox_runtime
    return kwargs


def resolve_path(path: str) -> str:
    """Map a user path to an absolute path inside the working directory; refuse anything outside it.

    The check is on the normalized string only (symlinks are not followed): the container is the
    isolation boundary, this only keeps file tools where the model is told to work.
    """
    if not path or not path.strip() or "\x00" in path:
        raise ToolError("path must be a non-empty file name inside /workspace")
    joined = posixpath.normpath(posixpath.join(WORKDIR, path.strip()))
    if joined == WORKDIR:
        raise ToolError(f"path {path!r} is the working directory itself, not a file")
    if not joined.startswith(WORKDIR + "/"):
        raise ToolError(f"path {path!r} is outside {WORKDIR}; use a relative path or one under {WORKDIR}")
    return joined


def wrap_command(command: list[str] | str, timeout: float) -> list[str]:
    """argv that runs ``command`` under an in-container hard timeout.

    GNU ``timeout`` puts itself in a new process group and on expiry SIGKILLs the whole group, so
    forked children die too. A string runs through ``/bin/sh -c``; a list is argv as is.
    """
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
    if not argv:
        raise ToolError("empty command")
    return ["timeout", "-s", "KILL", f"{max(timeout, 0.1):.3f}", *argv]


def kill_command(token: str) -> list[str]:
    """argv of the marker killer: SIGKILL every process whose environment carries this exec's marker.

    This catches children that left the process group (``setsid``) and background leftovers of a
    finished command. Marked processes are first stopped, in rounds until no new one appears, so
    a fork bomb cannot outrun the scan; then all are killed. Bash builtins only (``read -d ""``
    splits ``environ`` on NULs): the killer needs one pid and never forks.
    """
    script = (
        "prev=; for _ in 1 2 3 4 5 6 7 8 9 10; do cur=; "
        "for d in /proc/[0-9]*; do p=${d#/proc/}; "
        'while IFS= read -r -d "" v; do '
        'if [ "$v" = "$1" ]; then kill -STOP "$p"; cur="$cur $p"; break; fi; '
        'done < "$d/environ"; done 2>/dev/null; '
        '[ "$cur" = "$prev" ] && break; prev=$cur; done; '
        'for p in $cur; do kill -9 "$p"; done 2>/dev/null; exit 0'
    )
    return ["/bin/bash", "-c", script, "bash", f"{EXEC_MARKER}={token}"]


WRITE_SCRIPT = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"'
READ_SCRIPT = (
    'if [ ! -f "$1" ]; then echo "no such file: $1" >&2; exit 2; fi; '
    'if [ ! -r "$1" ]; then echo "not readable: $1" >&2; exit 2; fi; '
    'head -c "$2" -- "$1"'
)
