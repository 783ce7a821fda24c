"""Uploading a file into a session: limits, storage, the ``file`` event, the team's note, the sandbox.

An upload is stored in the session's own folder (``tools/uploads.py``), then recorded in one
transaction as a ``file`` timeline event and an inbox note that the session's next turn carries:
a reference to the file and an excerpt of at most UPLOAD_EXCERPT_TOKENS tokens (none for binary
files), never the whole file. If the session's sandbox container runs, the file is copied into it
now; a container that starts later copies every upload itself (``SandboxManager(uploads=...)``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from pathlib import Path
from typing import Any, BinaryIO

from ..context.excerpt import head_excerpt
from ..errors import UploadError
from ..store import Tx
from ..tools import uploads as files
from .session import Session

logger = logging.getLogger(__name__)

#: bytes of a file read to make its excerpt (enough for UPLOAD_EXCERPT_TOKENS of any text)
BYTES_PER_TOKEN = 16
MIN_HEAD_BYTES = 4096
MAX_HEAD_BYTES = 256 * 1024

_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


def _lock(session_id: str) -> asyncio.Lock:
    lock = _locks.get(session_id)
    if lock is None:
        lock = _locks[session_id] = asyncio.Lock()
    return lock


def folder_of(session: Session) -> Path:
    """``DATA_DIR/uploads/<the session's tenant>/<session id>/``."""
    return files.folder(session.services.settings.data_dir, session.id, session.tenant or files.TENANT)


async def list_files(session: Session) -> list[dict[str, Any]]:
    """The session's uploads, oldest first: name, size, sha256, uploaded_at."""
    return [f.to_dict() for f in await asyncio.to_thread(files.read_index, folder_of(session))]


async def upload(session: Session, raw_name: str | None, source: BinaryIO, size: int | None) -> dict[str, Any]:
    """Store one file for ``session`` and tell its team; raises :class:`UploadError` (with the HTTP
    status) for a bad name (400), a file over UPLOAD_MAX_BYTES (413) or a full session (409)."""
    settings = session.services.settings
    name = files.sanitize_name(raw_name)
    if size is not None and size > settings.upload_max_bytes:
        raise UploadError(
            f"the file is larger than {settings.upload_max_bytes} bytes (UPLOAD_MAX_BYTES)",
            status=413,
            code="too_large",
        )
    where = folder_of(session)
    session.touch()
    async with _lock(session.id):
        stored_files = await asyncio.to_thread(files.read_index, where)
        if len(stored_files) >= settings.upload_max_files:
            raise UploadError(
                f"this session already holds {len(stored_files)} files (UPLOAD_MAX_FILES)",
                status=409,
                code="too_many_files",
            )
        stored = await asyncio.to_thread(
            files.save, where, name, source, max_bytes=settings.upload_max_bytes, uploaded_at=time.time()
        )
        try:
            await asyncio.to_thread(files.write_index, where, [*stored_files, stored])
            seq = await _record(session, stored, await _note(session, where, stored))
        except BaseException:
            await asyncio.to_thread(_undo, where, stored_files, stored)
            raise
    copied = await _copy_to_sandbox(session, where, stored)
    return {**stored.to_dict(), "seq": seq, "paths": _paths(session, stored.name), "sandbox": copied}


def _undo(where: Path, before: list[files.StoredFile], stored: files.StoredFile) -> None:
    files.discard(where, stored.name)
    files.write_index(where, before)


def _paths(session: Session, name: str) -> list[str]:
    settings = session.services.settings
    sandbox = session.services.sandbox is not None
    return files.model_paths(name, terminal_on_host=settings.terminal_backend == "host", sandbox=sandbox)


async def _note(session: Session, where: Path, stored: files.StoredFile) -> str:
    """The reference and budgeted excerpt the team reads."""
    budget = session.services.settings.upload_excerpt_tokens
    head_bytes = min(max(budget * BYTES_PER_TOKEN, MIN_HEAD_BYTES), MAX_HEAD_BYTES)
    head = await asyncio.to_thread(files.read_head, where / stored.name, head_bytes)
    paths = _paths(session, stored.name)
    if files.looks_binary(head):
        return files.upload_note(stored.name, stored.size, paths, None, False)
    text = head.decode("utf-8", errors="ignore")
    encoding = session.services.factory.counter.encoding
    excerpt, cut = head_excerpt(text, budget, encoding)  # a few KiB; the encoding is not shared with threads
    return files.upload_note(stored.name, stored.size, paths, excerpt, cut or len(head) < stored.size)


async def _record(session: Session, stored: files.StoredFile, note: str) -> int | None:
    """The ``file`` event and the team's inbox note, in one transaction; the event's seq."""
    store, hub = session.services.store, session.services.hub
    fields = {"name": stored.name, "size": stored.size, "sha256": stored.sha256, "paths": _paths(session, stored.name)}
    if not session.owned:  # another process runs this session: it writes the timeline
        await store.state.add_inbox(session.id, "file", "user", note)
        session.emit("file", **fields)
        return None
    seq = 0

    async def add_inbox(tx: Tx, body: dict[str, Any]) -> None:
        nonlocal seq
        seq = body["seq"]
        await store.state.add_inbox(session.id, "file", "user", note, seq=seq, tx=tx)

    await hub.commit(session.channel, "file", add_inbox, **fields)
    return seq


async def _copy_to_sandbox(session: Session, where: Path, stored: files.StoredFile) -> str:
    """``copied`` (the container runs), ``on_start`` (copied when it starts), ``none`` (no
    sandbox) or ``failed`` (logged and counted; the upload itself stands)."""
    sandbox = session.services.sandbox
    if sandbox is None:
        return "none"
    try:
        copied = await sandbox.copy_in(session.id, [(stored.name, where / stored.name, stored.size)])
    except Exception:
        session.services.counters.upload_copy_errors += 1
        logger.exception("session %s: could not copy an upload into its sandbox", session.id)
        return "failed"
    return "copied" if copied else "on_start"


def sandbox_files(data_dir: Path, session_id: str) -> list[tuple[str, Path, int]]:
    """``(name, host path, size)`` of a session's uploads, for a sandbox container that starts."""
    where = files.find_folder(data_dir, session_id)
    return [(f.name, where / f.name, f.size) for f in files.read_index(where)] if where is not None else []


async def remove_all(session_id: str, data_dir: Path) -> None:
    """The session was deleted: its folder goes with it."""
    async with _lock(session_id):
        where = files.find_folder(data_dir, session_id)
        if where is not None:
            await asyncio.to_thread(files.remove_folder, where)
