"""A session's uploaded files: where they live, how names are made safe, how they are stored.

Each session has its own folder, ``DATA_DIR/uploads/<tenant>/<session_id>/`` (tenant ``public``
until accounts exist), never the shared workdir. The host terminal sees that folder read-only at
:data:`TERMINAL_PATH` (``/uploads``, bound by bubblewrap); the sandbox gets copies under
:data:`SANDBOX_PATH` (docs/security.md, "Uploads").

Pure: :func:`sanitize_name`, :func:`numbered`, :func:`looks_binary`, :func:`model_paths`,
:func:`upload_note`. The rest is blocking file I/O: run it in a worker thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import UploadError

logger = logging.getLogger(__name__)

#: the tenant of sessions that have none (made with auth off or before AUTH_MODE=keys)
TENANT = "public"
#: where a host terminal command sees the session's uploads (read-only)
TERMINAL_PATH = "/uploads"
#: where the session's sandbox container holds its copies
SANDBOX_PATH = "/workspace/uploads"
#: a client's file name (a path included) longer than this is refused, not cut
MAX_RAW_NAME_CHARS = 1024
#: a stored name's UTF-8 length (filesystems allow 255: room for a ``-NNN`` collision suffix)
MAX_NAME_BYTES = 200
#: collision suffixes tried before giving up (``notes-2.txt`` ... ``notes-999.txt``)
MAX_SUFFIX = 999
INDEX = ".index.json"
CHUNK = 1024 * 1024
_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
#: punctuation kept in a stored name; anything else that is not a letter, digit or mark becomes ``_``
_SAFE_PUNCT = frozenset("._-+@,=")
_REFUSED_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character (zero-width or bidi)",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Cs": "a surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned character",
}


def _bad_name(message: str) -> UploadError:
    return UploadError(message, status=400, code="bad_file_name")


# --- names (pure) -----------------------------------------------------------------------------------
def sanitize_name(raw: str | None) -> str:
    """The name a client sent, made safe to store and to name in a command, or :class:`UploadError`.

    Control, invisible and bidi characters and over-long names are refused (no client sends them
    by accident); a path is cut to its last part (``../../etc/passwd`` -> ``passwd``, Windows
    ``C:\\x\\a.txt`` -> ``a.txt``); leading dots and dashes are dropped (no hidden files, nothing
    that reads as an option); spaces, shell and glob characters become ``_``.
    """
    if raw is None or not raw.strip():
        raise _bad_name("the file has no name")
    if len(raw) > MAX_RAW_NAME_CHARS:
        raise _bad_name(f"the file name is longer than {MAX_RAW_NAME_CHARS} characters")
    for index, char in enumerate(raw):
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES:
            raise _bad_name(
                f"the file name contains {_REFUSED_CATEGORIES[category]} at position {index} (U+{ord(char):04X})"
            )
    base = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    safe = "".join(
        char if char.isalnum() or char in _SAFE_PUNCT or unicodedata.category(char).startswith("M") else "_"
        for char in base
    )
    name = re.sub(r"_{2,}", "_", safe).lstrip(".-").rstrip(".")
    if not name.strip("_"):
        raise _bad_name(f"the file name {raw[:80]!r} has no usable characters")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise _bad_name(f"the file name is longer than {MAX_NAME_BYTES} bytes")
    return name


def numbered(name: str, n: int) -> str:
    """``notes.txt``, 2 -> ``notes-2.txt`` (the name of the n-th upload with the same name)."""
    if n <= 1:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return f"{name}-{n}"
    return f"{stem}-{n}.{ext}"


def looks_binary(head: bytes) -> bool:
    """True when the first bytes of a file are not UTF-8 text (a NUL, or invalid UTF-8 before the
    last three bytes, which may be a character cut by the read)."""
    if b"\0" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.reason != "unexpected end of data" or exc.start < len(head) - 3
    return False


def model_paths(name: str, *, terminal_on_host: bool, sandbox: bool) -> list[str]:
    """Where the team's tools find an upload: the host terminal's view, the sandbox's copy."""
    paths = []
    if terminal_on_host:
        paths.append(f"{TERMINAL_PATH}/{name} (terminal)")
    if sandbox:
        paths.append(f"{SANDBOX_PATH}/{name} (sandbox)")
    return paths


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # unreachable


def upload_note(name: str, size: int, paths: Sequence[str], excerpt: str | None, truncated: bool) -> str:
    """What the team reads about an upload: a reference, and a bounded excerpt (none for binary)."""
    where = " or ".join(paths) if paths else "the session's uploads (no tool here can read it)"
    if excerpt is None:
        return f"[file uploaded: {name} ({human_size(size)}, binary: no excerpt) at {where}]"
    label = "excerpt (the beginning; read the file for the rest)" if truncated else "content"
    return f"[file uploaded: {name} ({human_size(size)}) at {where}; {label}:\n{excerpt}\n]"


# --- storage (blocking) -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StoredFile:
    name: str
    size: int
    sha256: str
    uploaded_at: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def folder(data_dir: Path, session_id: str, tenant: str = TENANT) -> Path:
    """The session's upload folder (it may not exist yet)."""
    if not _ID.match(session_id) or not _ID.match(tenant):
        raise ValueError(f"not a valid session id or tenant: {session_id!r}, {tenant!r}")
    return Path(data_dir) / "uploads" / tenant / session_id


def read_index(where: Path) -> list[StoredFile]:
    """The folder's files, in upload order (empty when nothing was uploaded)."""
    try:
        data = json.loads((where / INDEX).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    return [StoredFile(str(f["name"]), int(f["size"]), str(f["sha256"]), float(f["uploaded_at"])) for f in data]


def write_index(where: Path, files: Sequence[StoredFile]) -> None:
    text = json.dumps([f.to_dict() for f in files], ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(dir=where, prefix=".index-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, where / INDEX)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _make_folder(where: Path) -> None:
    """Create the folder: its parents private to the server, the folder itself readable by the
    unprivileged user terminal commands run as (its parents are not visible in the namespace)."""
    for parent in (where.parent.parent, where.parent):
        parent.mkdir(mode=0o700, exist_ok=True)
    where.mkdir(mode=0o755, exist_ok=True)
    os.chmod(where, 0o755)  # noqa: S103 - read by the unprivileged terminal user; its parents are 0700


def save(where: Path, name: str, source: BinaryIO, *, max_bytes: int, uploaded_at: float) -> StoredFile:
    """Copy ``source`` into the folder under ``name`` (or ``name-2``, ``name-3``... if taken).

    Written to a hidden temporary file first and linked into place only when complete, so a
    refused or failed upload leaves nothing behind and an existing file is never overwritten.
    More than ``max_bytes`` is refused (413)."""
    _make_folder(where)
    digest = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=where, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise UploadError(
                        f"the file is larger than {max_bytes} bytes (UPLOAD_MAX_BYTES)", status=413, code="too_large"
                    )
                digest.update(chunk)
                out.write(chunk)
        os.chmod(tmp, 0o644)
        for n in range(1, MAX_SUFFIX + 1):
            final = numbered(name, n)
            try:
                os.link(tmp, where / final)
            except FileExistsError:
                continue
            return StoredFile(final, size, digest.hexdigest(), uploaded_at)
        raise UploadError(f"too many files named like {name!r}", status=409, code="name_taken")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def discard(where: Path, name: str) -> None:
    """Remove one stored file (an upload that could not be recorded)."""
    with contextlib.suppress(FileNotFoundError):
        (where / name).unlink()


def read_head(path: Path, limit: int) -> bytes:
    with path.open("rb") as handle:
        return handle.read(limit)


def find_folder(data_dir: Path, session_id: str) -> Path | None:
    """The session's folder whatever its tenant (session ids are unique across tenants), or None."""
    if not _ID.match(session_id):
        return None
    for candidate in sorted((Path(data_dir) / "uploads").glob(f"*/{session_id}")):
        if candidate.is_dir():
            return candidate
    return None


def remove_folder(where: Path) -> None:
    """Delete the session's folder and everything in it (the session was deleted)."""
    if where.is_dir():
        shutil.rmtree(where)
