"""Upload names, storage and the team's note (backend/tools/uploads.py), and the terminal's view of them."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from backend.errors import UploadError
from backend.settings import Settings
from backend.tools import uploads
from backend.tools.confinement import Confinement, probe
from backend.tools.terminal import execute_command, run_argv
from backend.tools.terminal_policy import CommandRefusedError, build_policy
from tests.conftest import require


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("notes.txt", "notes.txt"),
        ("../../etc/passwd", "passwd"),
        ("/etc/passwd", "passwd"),
        ("C:\\Users\\me\\report final.pdf", "report_final.pdf"),
        (".bashrc", "bashrc"),
        ("...hidden..", "hidden"),
        ("-rf.txt", "rf.txt"),
        ("--help", "help"),
        ("a;b|c$(d)`e`*?[f].txt", "a_b_c_d_e_f_.txt"),
        ("报告 2024.txt", "报告_2024.txt"),
        ("cafe\u0301.txt", "café.txt"),  # NFC
        ("Ｆｕｌｌ／ｗｉｄｔｈ.txt", "Ｆｕｌｌ_ｗｉｄｔｈ.txt"),  # the fullwidth slash is not a separator
    ],
)
def test_names_are_cut_to_a_safe_basename(raw: str, stored: str) -> None:
    """Paths are cut to their last part; hidden, option-like and shell characters are neutralised."""
    assert uploads.sanitize_name(raw) == stored


@pytest.mark.parametrize(
    "raw",
    [None, "", "   ", "..", "../..", "a/..", "a\x00b", "line\nbreak", "tab\there", "\x7f", "x\u202etxt.exe",
     "zero\u200bwidth", "a" * 1025, "b" * 201, "中" * 67, "___", "-", "/"],
)  # fmt: skip
def test_hostile_names_are_refused_with_400(raw: str | None) -> None:
    """Control, invisible and bidi characters, over-long and empty names: a 400 naming the problem."""
    with pytest.raises(UploadError) as caught:
        uploads.sanitize_name(raw)
    assert caught.value.status == 400 and caught.value.code == "bad_file_name"


def test_numbered_names_keep_the_extension() -> None:
    """Collisions get -2, -3... before the extension (none for names without one)."""
    assert uploads.numbered("notes.txt", 1) == "notes.txt"
    assert uploads.numbered("notes.txt", 2) == "notes-2.txt"
    assert uploads.numbered("archive.tar.gz", 3) == "archive.tar-3.gz"
    assert uploads.numbered("Makefile", 2) == "Makefile-2"


def test_binary_detection() -> None:
    """NUL or invalid UTF-8 is binary; a multi-byte character cut by the read is still text."""
    assert uploads.looks_binary(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert uploads.looks_binary(b"\xff\xfe\xfd text")
    assert not uploads.looks_binary("plain 中文 text".encode())
    assert not uploads.looks_binary("cut 中".encode()[:-1])
    assert not uploads.looks_binary(b"")


def test_note_names_the_paths_and_marks_binary() -> None:
    """The note carries the reference; a binary file gets no excerpt."""
    paths = uploads.model_paths("a.png", terminal_on_host=True, sandbox=True)
    assert paths == ["/uploads/a.png (terminal)", "/workspace/uploads/a.png (sandbox)"]
    assert uploads.upload_note("a.png", 2048, paths, None, False) == (
        "[file uploaded: a.png (2.0 KiB, binary: no excerpt) at /uploads/a.png (terminal) or "
        "/workspace/uploads/a.png (sandbox)]"
    )
    note = uploads.upload_note("n.txt", 12, ["/uploads/n.txt (terminal)"], "hello", False)
    assert note == "[file uploaded: n.txt (12 bytes) at /uploads/n.txt (terminal); content:\nhello\n]"
    assert "excerpt (the beginning" in uploads.upload_note("n.txt", 5 << 20, [], "he", True)


def test_save_never_overwrites_and_never_leaves_partial_files(tmp_path: Path) -> None:
    """Same name twice -> a suffixed second file; an over-limit stream leaves nothing; modes allow nobody to read."""
    where = uploads.folder(tmp_path, "s1")
    first = uploads.save(where, "a.txt", io.BytesIO(b"one"), max_bytes=10, uploaded_at=1.0)
    second = uploads.save(where, "a.txt", io.BytesIO(b"two"), max_bytes=10, uploaded_at=2.0)
    assert (first.name, second.name) == ("a.txt", "a-2.txt")
    assert (where / "a.txt").read_bytes() == b"one" and (where / "a-2.txt").read_bytes() == b"two"
    with pytest.raises(UploadError) as caught:
        uploads.save(where, "big.txt", io.BytesIO(b"x" * 11), max_bytes=10, uploaded_at=3.0)
    assert caught.value.status == 413
    assert sorted(p.name for p in where.iterdir()) == ["a-2.txt", "a.txt"]
    assert where.stat().st_mode & 0o777 == 0o755 and (where / "a.txt").stat().st_mode & 0o777 == 0o644
    assert where.parent.stat().st_mode & 0o777 == 0o700 and where.parent.parent.stat().st_mode & 0o777 == 0o700
    uploads.write_index(where, [first, second])
    assert [f.name for f in uploads.read_index(where)] == ["a.txt", "a-2.txt"]
    assert json.loads((where / uploads.INDEX).read_text())[0]["sha256"] == first.sha256
    uploads.remove_folder(where)
    assert not where.exists() and uploads.read_index(where) == []


def test_folder_refuses_ids_with_path_characters(tmp_path: Path) -> None:
    """The session id and tenant become path parts only when they are plain ids."""
    for bad in ("..", "a/b", "", "x" * 65):
        with pytest.raises(ValueError, match="not a valid"):
            uploads.folder(tmp_path, bad)


def test_policy_accepts_the_uploads_mount_and_nothing_around_it(tmp_path: Path) -> None:
    """/uploads/... resolves inside the session's folder; escapes from it and other sessions' folders are refused."""
    work = tmp_path / "work"
    work.mkdir()
    mine = tmp_path / "data" / "uploads" / "public" / "s1"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("x")
    (tmp_path / "data" / "uploads" / "public" / "s2").mkdir()
    policy = build_policy(work)
    mounts = {"/uploads": str(mine)}
    assert policy.check("cat /uploads/notes.txt", mounts=mounts).argv[1:] == ("/uploads/notes.txt",)
    assert policy.check("ls -la /uploads", mounts=mounts).argv[-1] == "/uploads"
    for command in (
        "cat /uploads/../s2/x",
        "cat /uploads/../../../../etc/shadow",
        "grep -r x /uploads/..",
        "cat /uploadsX/notes.txt",
    ):
        with pytest.raises(CommandRefusedError):
            policy.check(command, mounts=mounts)
    with pytest.raises(CommandRefusedError):
        policy.check("cat /uploads/notes.txt")  # without the mount: outside the workdir


@pytest_asyncio.fixture
async def confined() -> AsyncIterator[Confinement]:
    confinement = await probe("bwrap")
    if not confinement.usable:
        require("REQUIRE_BWRAP", f"bubblewrap cannot confine commands here: {confinement.reason}")
    yield confinement


async def test_confinement_binds_the_uploads_read_only(confined: Confinement, tmp_path: Path) -> None:
    """Inside the namespace the folder is at /uploads, readable by the unprivileged user, not writable."""
    work = tmp_path / "work"
    work.mkdir()
    where = uploads.folder(tmp_path / "data", "s1")
    (tmp_path / "data").mkdir()
    uploads.save(where, "notes.txt", io.BytesIO(b"from the upload\n"), max_bytes=100, uploaded_at=1.0)
    binds = [(str(where), "/uploads")]
    env = {"PATH": "/usr/bin:/bin"}
    read = await run_argv(
        confined.wrap(["/usr/bin/cat", "/uploads/notes.txt"], str(work), ro_binds=binds),
        cwd=str(work), env=env, timeout=30, limit=4096,
    )  # fmt: skip
    assert (read.exit_code, read.output) == (0, b"from the upload\n")
    write = await run_argv(
        confined.wrap(["/usr/bin/touch", "/uploads/new"], str(work), ro_binds=binds),
        cwd=str(work), env=env, timeout=30, limit=4096,
    )  # fmt: skip
    assert write.exit_code != 0 and not (where / "new").exists()
    with pytest.raises(ValueError, match="free top-level"):
        confined.wrap(["/usr/bin/true"], str(work), ro_binds=[(str(where), "/usr")])
    with pytest.raises(ValueError, match="free top-level"):
        confined.wrap(["/usr/bin/true"], str(work), ro_binds=[(str(where), "/a/b")])


async def test_terminal_tool_reads_the_sessions_upload_only(confined: Confinement, tmp_path: Path) -> None:
    """execute_command for session s1 sees s1's uploads at /uploads; session s2 has none."""
    work = tmp_path / "work"
    work.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    settings = Settings.from_env({"AGENT_WORKDIR": str(work), "DATA_DIR": str(data)})
    uploads.save(uploads.folder(data, "s1"), "notes.txt", io.BytesIO(b"s1 only\n"), max_bytes=100, uploaded_at=1.0)
    mine = await execute_command("cat /uploads/notes.txt", settings=settings, session_id="s1")
    assert mine.refused is None and mine.output == "s1 only\n"
    theirs = await execute_command("cat /uploads/notes.txt", settings=settings, session_id="s2")
    assert theirs.refused is not None and "outside the workdir" in theirs.refused
