"""Connection-level limits (issue 12): auth timeout, the 1008 burst close, accept-error logging, fd limit."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from backend.errors import SettingsError
from backend.server.acceptlog import AcceptErrorLog
from backend.settings import Settings
from tests.conftest import RunningServer, base_env
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import UNIT, WsClient

TOKEN = "limits-test-token-0123456789"
ROOT = Path(__file__).resolve().parents[2]


async def test_unauthenticated_socket_is_closed_after_auth_timeout(make_settings: Callable[..., Settings]) -> None:
    """With AUTH_TOKEN, a socket that never authenticates is told why and closed with 1008."""
    running = await RunningServer(make_settings(AUTH_TOKEN=TOKEN, AUTH_TIMEOUT="0.3")).start()
    try:
        idle = await running.client()
        error = await idle.recv()
        assert error["code"] == "unauthorized" and "timed out" in error["message"]
        with pytest.raises(ConnectionClosed) as closed:
            await idle.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert closed.value.rcvd.reason == "authentication timeout"
    finally:
        await running.stop()


async def test_authenticated_socket_outlives_the_auth_timeout(make_settings: Callable[..., Settings]) -> None:
    """A socket that authenticates in time stays open past AUTH_TIMEOUT."""
    running = await RunningServer(make_settings(AUTH_TOKEN=TOKEN, AUTH_TIMEOUT="0.3")).start()
    try:
        ws = await running.client()
        await ws.send(type="auth", token=TOKEN)
        assert (await ws.recv())["type"] == "auth"
        # a second, unauthenticated socket is closed at the timeout: by then the first one's timer
        # would have fired too, had it not been cancelled
        other = await running.client()
        with pytest.raises(ConnectionClosed):
            while True:
                await other.recv()
        await ws.send(type="ping")
        assert (await ws.recv())["type"] == "pong"
        await ws.close()
    finally:
        await running.stop()


async def test_rate_limit_burst_closes_with_1008(make_settings: Callable[..., Settings]) -> None:
    """A burst of frames sent without reading ends with close code 1008 (documented), never 1000."""
    running = await RunningServer(
        make_settings(RATE_LIMIT_MESSAGES="5", RATE_LIMIT_WINDOW="60", RATE_LIMIT_STRIKES="3")
    ).start()
    try:
        for _ in range(3):
            ws = await running.client()
            for _ in range(40):
                await ws.send(type="ping")
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await ws.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1008
            assert info.value.rcvd.reason == "rate limit exceeded"
    finally:
        await running.stop()


async def test_connections_without_a_request_head_are_closed(make_settings: Callable[..., Settings]) -> None:
    """A TCP connection that sends nothing, or half a request head, is closed at HANDSHAKE_TIMEOUT."""
    running = await RunningServer(make_settings(HANDSHAKE_TIMEOUT="0.3")).start()
    try:
        port = running.settings.port
        silent = await asyncio.open_connection("127.0.0.1", port)
        slow = await asyncio.open_connection("127.0.0.1", port)
        slow[1].write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        for reader, writer in (silent, slow):
            assert await asyncio.wait_for(reader.read(), 4 * UNIT) == b""  # EOF: the server closed it
            writer.close()
        # a prompt client on a kept-alive connection is unaffected
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        assert (await asyncio.wait_for(reader.readline(), UNIT)).startswith(b"HTTP/1.1 200")
        writer.close()
    finally:
        await running.stop()


def test_short_auth_token_is_refused_at_start_up(tmp_path: Path) -> None:
    """AUTH_TOKEN under 16 characters: a clear settings error that does not echo the token."""
    env = {**base_env(tmp_path, None), "AUTH_TOKEN": "hunter2"}
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert "AUTH_TOKEN" in info.value.message and "16 characters" in info.value.message
    assert "hunter2" not in info.value.message
    assert Settings.from_env({**env, "AUTH_TOKEN": "x" * 16}).auth_token == "x" * 16


async def test_accept_errors_are_logged_at_a_bounded_rate(caplog: pytest.LogCaptureFixture) -> None:
    """1,000 accept errors: one log line per interval, all counted; other loop errors pass through."""
    now = [0.0]
    log = AcceptErrorLog(interval=10.0, clock=lambda: now[0])
    loop = asyncio.get_running_loop()
    passed: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: passed.append(context))
    log.install(loop)
    try:
        with caplog.at_level(logging.ERROR, logger="backend.server.acceptlog"):
            for i in range(1000):
                now[0] = i * 0.05  # 50 s in all
                loop.call_exception_handler(
                    {
                        "message": "socket.accept() out of system resource",
                        "exception": OSError(24, "Too many open files"),
                    }
                )
            loop.call_exception_handler({"message": "something else entirely"})
        lines = [r for r in caplog.records if r.name == "backend.server.acceptlog"]
        assert 1 <= len(lines) <= 6
        assert log.count == 1000
        assert [c["message"] for c in passed] == ["something else entirely"]
    finally:
        log.uninstall()
        loop.set_exception_handler(None)


def test_file_limit_is_raised_at_start_up() -> None:
    """A low soft RLIMIT_NOFILE is raised to the hard limit by the start-up helper."""
    script = (
        "import json, resource\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "from backend.main import raise_file_limit\n"
        "raise_file_limit()\n"
        "print(json.dumps([resource.getrlimit(resource.RLIMIT_NOFILE), hard]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    (soft, _), hard = json.loads(out.stdout)
    assert soft > 256
    assert soft == hard or soft >= 65536


async def test_a_client_that_stops_reading_is_closed_with_1013(
    server: RunningServer, fake_model: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames piling up for a client that does not read close it with 1013; others are unaffected."""
    monkeypatch.setattr("backend.server.connection.MAX_WRITE_BUFFER", 256 * 1024)
    fake_model.enqueue(Reply.of_text("x" * 50_000, chunk_chars=10_000))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)  # no autotuned multi-MB window to hide in
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.settings.port))
    reader = await WsClient.connect(server.url, max_queue=2, sock=sock)
    sid = (await reader.turn("say a lot"))[0]["session_id"]
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(200):  # each history frame carries the whole ~100 KB turn; the client reads none
            await reader.send(type="history", session_id=sid)
        while True:
            await reader.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    other = await server.client()
    try:
        await other.send(type="ping")
        assert (await other.recv())["type"] == "pong"
    finally:
        await other.close()


@pytest.mark.slow
async def test_out_of_descriptors_is_logged_once_and_the_server_recovers(
    tmp_path: Path, fake_model: FakeModelServer
) -> None:
    """A real server at its file limit: accept errors are counted, logged once (not per attempt), the
    start-up warns about the low limit, and once the flood closes /healthz answers again."""
    limit = 256
    env = {**base_env(tmp_path, fake_model), "HANDSHAKE_TIMEOUT": "120"}
    log_path = tmp_path / "server.log"

    with log_path.open("w") as log:
        proc = subprocess.Popen(
            ["prlimit", f"--nofile={limit}:{limit}", sys.executable, "-m", "backend"],
            cwd=ROOT,
            env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **env},
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    clients: list[asyncio.StreamWriter] = []
    try:
        assert proc.stdout is not None
        line = ""
        while not line.startswith('{"event": "listening"'):
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 12 * UNIT)
            assert line, f"the server exited: {log_path.read_text()[-2000:]}"
        port = int(json.loads(line)["url"].rsplit(":", 1)[1].strip("/"))
        for _ in range(2 * limit):  # the kernel completes these; the server runs out of descriptors
            clients.append((await asyncio.open_connection("127.0.0.1", port))[1])
        # the server accepts a backlog in one burst, so it runs out even if the clients are gone by then
        for writer in clients:
            writer.close()
        clients.clear()
        async with httpx.AsyncClient(timeout=4 * UNIT) as http:  # waits in the backlog until accepted
            health = (await http.get(f"http://127.0.0.1:{port}/healthz")).json()
        assert health["connections"]["accept_errors"] >= 1
        text = log_path.read_text()
        assert 1 <= text.count("socket.accept() out of system resource") <= 2
        assert "open-file limit 256 is below MAX_CONNECTIONS" in text
    finally:
        for writer in clients:
            writer.close()
        proc.terminate()
        await asyncio.to_thread(proc.wait, 30)
        if proc.stdout is not None:
            proc.stdout.close()
