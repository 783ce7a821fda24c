"""Layer 2 of the terminal skill: every host command runs confined by the operating system.

bubblewrap (``bwrap``) gives each command new mount, pid, ipc, uts, cgroup and network namespaces,
and a filesystem made of: ``/usr`` (and the ``/bin``, ``/lib`` links) read-only, a minimal ``/etc``
(no ``shadow``, no keys, nothing but what the dynamic loader and name lookups need), a fresh
``/proc`` that shows only the command's own processes, a private ``/dev`` and ``/tmp``, and the
workdir, read-only. The environment is the one the policy builds (nothing of the server's). When
the server runs as root the command runs as ``nobody`` for real (``setpriv``: real, effective and
saved ids, no groups, no capabilities, no_new_privs); a user namespace alone would still map it to
root outside. ``--die-with-parent`` ties it to the server. The command is started in a new session of its own by
the runner (no controlling terminal, so no ``TIOCSTI``), and bwrap's ``--new-session`` is not used:
everything inside stays in the runner's process group, so a timeout, the output limit or a stop
kills all of it with one ``killpg`` (setuid clears the parent-death signal, so that alone would
not reach a command that dropped root).

Even a bug in the argument policy (layer 1) then reads nothing outside the workdir, reaches no
network and sees no other process. If bubblewrap is missing or cannot create namespaces here, the
terminal skill is disabled with the reason (``/healthz`` says it) unless the operator sets
``TERMINAL_CONFINEMENT=none``, which logs a loud warning at start-up.

Reusable: :meth:`Confinement.wrap` confines any argv to one directory (MCP stdio servers use it too).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

logger = logging.getLogger(__name__)

#: the unprivileged identity commands run as when the server is root
NOBODY = 65534
#: system directories that are (links to) read-only parts of the OS
SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: the only files of /etc a command sees: the loader, user names, the time zone, alternatives
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/alternatives",
)
PROBE_TIMEOUT = 10.0

Mode = Literal["bwrap", "none", "unavailable"]


@dataclass(frozen=True, slots=True)
class Confinement:
    """How host commands are confined; built once at start-up by :func:`probe`."""

    mode: Mode
    reason: str = ""
    bwrap: str = ""
    setpriv: str = ""
    #: the uid commands run as (None: the server's own, inside a user namespace)
    uid: int | None = None
    system_links: tuple[tuple[str, str], ...] = field(default=())

    @property
    def usable(self) -> bool:
        return self.mode != "unavailable"

    @property
    def drops_privileges(self) -> bool:
        return self.mode == "bwrap" and self.uid is not None

    def describe(self) -> dict[str, object]:
        """For /healthz."""
        return {"confinement": self.mode, "reason": self.reason or None, "uid": self.uid}

    def wrap(
        self,
        argv: Sequence[str],
        directory: str,
        *,
        writable: bool = False,
        ro_binds: Sequence[tuple[str, str]] = (),
    ) -> list[str]:
        """``argv`` confined to ``directory`` (bound at the same path, read-only unless ``writable``).

        ``ro_binds``: ``(host folder, path inside)`` pairs bound read-only too (a session's uploads
        at ``/uploads``); the path inside must be a top-level path the sandbox does not mount."""
        if self.mode == "none":
            return list(argv)
        if self.mode != "bwrap":
            raise RuntimeError(f"terminal confinement unavailable: {self.reason}")
        root = os.path.realpath(directory)
        args = [
            self.bwrap,
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--die-with-parent",
            "--hostname",
            "sandbox",
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        for path, target in self.system_links:
            args += ["--symlink", target, path] if target else ["--ro-bind", path, path]
        args += ["--dir", "/etc"]
        for path in ETC_FILES:
            args += ["--ro-bind-try", path, path]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # noqa: S108 (a fresh tmpfs inside)
        # bwrap would create the directory's parents with their host modes (a 0700 parent would lock
        # the unprivileged command out): create them traversable, and empty
        for parent in _parents(root):
            args += ["--perms", "0755", "--dir", parent]
        args += ["--bind" if writable else "--ro-bind", root, root]
        for host, inside in ro_binds:
            taken = inside in _MOUNTED or inside in {p for p, _ in self.system_links}
            if inside.count("/") != 1 or taken or root == inside or root.startswith(inside + "/"):
                raise ValueError(f"cannot bind at {inside!r}: not a free top-level path")
            args += ["--ro-bind", os.path.realpath(host), inside]
        args += ["--chdir", root]
        if self.uid is None:
            args += ["--unshare-user", "--cap-drop", "ALL"]
            return [*args, "--", *argv]
        drop = [
            self.setpriv,
            f"--reuid={self.uid}",
            f"--regid={self.uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
        ]
        return [*args, "--", *drop, "--", *argv]


_MOUNTED = frozenset({"/", "/tmp", "/usr", "/proc", "/dev", "/etc"})  # noqa: S108


def _parents(path: str) -> list[str]:
    """``/a/b/c`` -> ``["/a", "/a/b"]``, minus what the sandbox already mounts."""
    parts = path.strip("/").split("/")[:-1]
    found = ["/" + "/".join(parts[: n + 1]) for n in range(len(parts))]
    return [p for p in found if p not in _MOUNTED]


def _system_links() -> tuple[tuple[str, str], ...]:
    links = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            links.append((path, os.readlink(path)))
        elif os.path.isdir(path):
            links.append((path, ""))
    return tuple(links)


async def probe(setting: str) -> Confinement:
    """Find bubblewrap and prove it can confine a command here; the reason when it cannot."""
    if setting == "none":
        logger.warning(
            "TERMINAL_CONFINEMENT=none: terminal commands run WITHOUT operating-system confinement; only the "
            "argument policy stands between the model and this machine's files. Install bubblewrap."
        )
        return Confinement(mode="none", reason="disabled by TERMINAL_CONFINEMENT=none")
    bwrap = shutil.which("bwrap", path="/usr/bin:/bin:/usr/local/bin")
    if bwrap is None:
        return _unavailable("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    root = os.geteuid() == 0
    setpriv = shutil.which("setpriv", path="/usr/bin:/bin") or ""
    if root and not setpriv:
        return _unavailable("setpriv (util-linux) is missing, so commands could not drop root")
    candidate = Confinement(
        mode="bwrap", bwrap=bwrap, setpriv=setpriv, uid=NOBODY if root else None, system_links=_system_links()
    )
    true = shutil.which("true", path="/usr/bin:/bin") or "/usr/bin/true"
    try:
        proc = await asyncio.create_subprocess_exec(
            *candidate.wrap([true], "/"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={"PATH": "/usr/bin:/bin"},
        )
        _, err = await asyncio.wait_for(proc.communicate(), PROBE_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        return _unavailable(f"bubblewrap could not be run: {exc}")
    if proc.returncode != 0:
        detail = err.decode(errors="replace").strip().splitlines()
        return _unavailable(f"bubblewrap cannot create namespaces here ({detail[-1] if detail else proc.returncode})")
    logger.info("terminal commands run confined by bubblewrap%s", " as nobody" if root else "")
    return candidate


def _unavailable(reason: str) -> Confinement:
    logger.error(
        "terminal skill DISABLED: %s. Fix that, or set TERMINAL_CONFINEMENT=none to run commands unconfined "
        "(not recommended).",
        reason,
    )
    return Confinement(mode="unavailable", reason=reason)


_probed: dict[str, asyncio.Task[Confinement]] = {}


async def confinement_for(setting: str) -> Confinement:
    """The probe's result for this setting, probed once per process (and event loop)."""
    task = _probed.get(setting)
    if task is None or task.get_loop() is not asyncio.get_running_loop():
        task = _probed[setting] = asyncio.ensure_future(probe(setting))
    return await asyncio.shield(task)
