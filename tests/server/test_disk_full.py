"""Disk full during a turn (issue 12): the client still gets error + done, and after space returns
the next turn works and the timeline states what happened.

The data dir is a real 4 MB tmpfs (root only: CI runs as root), filled while a slow stream runs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backend.settings import Settings
from tests.conftest import RunningServer, require
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import UNIT, of_type


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        require("REQUIRE_ROOT", "mounting a tmpfs needs root")
    mount = tmp_path / "data"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=False)
    if result.returncode != 0:
        require("REQUIRE_ROOT", "cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Write until the filesystem says ENOSPC."""
    path = directory / "filler"
    with path.open("wb") as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 65536)
            handle.flush()
    return path


async def test_a_full_disk_mid_turn_still_ends_the_turn_and_nothing_is_lost(
    make_settings: Callable[..., Settings], fake_model: FakeModelServer, small_disk: Path
) -> None:
    """error + done arrive live; after space returns the next turn works and resume shows both turns."""
    running = await RunningServer(make_settings(DATA_DIR=str(small_disk))).start()
    ws = await running.client()
    try:
        fake_model.enqueue(Reply.of_text("word " * 400, delay=0.01), Reply.of_text("Back again."))
        await ws.send(type="message", content="a long answer please")
        first = await ws.recv_until("delta", timeout=10 * UNIT)
        sid = first[0]["session_id"]
        filler = fill(small_disk)
        events = await ws.recv_until("done", timeout=30 * UNIT)
        done = of_type(events, "done")[0]
        assert done["status"] == "error" and done["stored"] is False and done["seq"] is None
        assert of_type(events, "error")[-1]["code"] == "store_unavailable"
        filler.unlink()
        again = await ws.turn("are you there?", session_id=sid, timeout=10 * UNIT)
        restated = of_type(again, "done")[-1]
        assert restated["status"] == "error" and restated["restated"] is True, "the lost end, now stored"
        assert isinstance(restated["seq"], int)
        again += await ws.recv_until("done", timeout=10 * UNIT)
        assert of_type(again, "done")[-1]["status"] == "ok"
        # the first message was not consumed: it reached the team as context of the next turn
        assert "a long answer please" in fake_model.chat_requests[-1].text
        other = await running.client()
        await other.send(type="resume", session_id=sid, last_seq=0)
        replay = await other.recv_until("session", timeout=5 * UNIT)
        seqs = [e["seq"] for e in replay if isinstance(e.get("seq"), int)]
        assert seqs == sorted(set(seqs))
        await other.close()
    finally:
        await ws.close()
        await running.stop()


@pytest.mark.parametrize("options", ["ro,size=1m", "size=64k"])
async def test_an_unwritable_data_dir_at_start_up_is_one_clear_line(
    make_settings: Callable[..., Settings], tmp_path: Path, options: str
) -> None:
    """A read-only or full DATA_DIR stops the start with a SettingsError naming it, not a traceback."""
    from backend.errors import SettingsError
    from backend.main import start_app

    if os.geteuid() != 0:
        require("REQUIRE_ROOT", "mounting a tmpfs needs root")
    mount = tmp_path / "data"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], check=True)
    try:
        if "ro" not in options:
            fill(mount)
        with pytest.raises(SettingsError, match=r"DATA_DIR=.* cannot be written"):
            await start_app(make_settings(DATA_DIR=str(mount)))
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
