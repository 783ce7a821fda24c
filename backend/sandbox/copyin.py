"""Copying host files into a session's container: a tar archive streamed to ``tar -x`` in an exec.

The container has no host mounts, and its root filesystem is read-only with tmpfs mounts for
``/workspace`` and ``/tmp``. Docker's archive API (``put_archive``, what ``docker cp`` uses)
refuses every path of such a container ("container rootfs is marked read-only", Docker 20.10; it
writes through the image's layers, where a tmpfs is not even visible). So the copy goes through
the same exec channel as every command: the archive arrives on the stdin of ``tar -x``, run as
the sandbox user, inside the container. Blocking; the manager runs it in a worker thread.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import ToolError
from .config import WORKDIR
from .execio import decode, run_exec

#: one archive holds at most this much (a bigger single file goes alone)
BATCH_BYTES = 16 * 1024 * 1024
COPY_TIMEOUT = 60.0
_ERR_LIMIT = 4096


def batches(files: Sequence[tuple[str, Path, int]], limit: int = BATCH_BYTES) -> Iterator[list[tuple[str, Path]]]:
    """Group ``(name, path, size)`` into archives of at most ``limit`` bytes (pure)."""
    batch: list[tuple[str, Path]] = []
    total = 0
    for name, path, size in files:
        if batch and total + size > limit:
            yield batch
            batch, total = [], 0
        batch.append((name, path))
        total += size
    if batch:
        yield batch


def archive(folder: str, files: Sequence[tuple[str, Path]], *, uid: int, gid: int) -> bytes:
    """A tar of ``folder/`` and each file as ``folder/<name>``, owned by the sandbox user, 0644."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        top = tarfile.TarInfo(folder)
        top.type, top.mode, top.uid, top.gid = tarfile.DIRTYPE, 0o755, uid, gid
        tar.addfile(top)
        for name, path in files:
            if "/" in name or name in ("", ".", ".."):
                raise ToolError(f"not a plain file name: {name!r}")
            with path.open("rb") as handle:
                info = tar.gettarinfo(fileobj=handle, arcname=f"{folder}/{name}")
                info.mode, info.uid, info.gid, info.uname, info.gname = 0o644, uid, gid, "", ""
                tar.addfile(info, handle)
    return buffer.getvalue()


def copy_into(api: Any, container_id: str, data: bytes, *, user: str) -> None:
    """Unpack ``data`` (from :func:`archive`) under the container's working directory."""
    command = ["tar", "-x", "-f", "-", "-C", WORKDIR, "--no-same-owner", "--no-overwrite-dir"]
    raw = run_exec(
        api, container_id, command, timeout=COPY_TIMEOUT, limit=_ERR_LIMIT, user=user, stdin=data, split=True
    )
    if raw.exit_code != 0:
        detail = decode(raw.err or raw.out).strip() or f"exit {raw.exit_code}"
        raise ToolError(f"could not copy files into the sandbox: {detail}")
