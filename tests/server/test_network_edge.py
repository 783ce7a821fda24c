"""The network edge (server/edge.py): Host allowlist, Origin, CSRF, tokens, throttles, caps and sizes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from backend.server.edge import host_allowed, host_name, startup_warnings
from backend.settings import Settings
from tests.conftest import RunningServer, base_env
from tests.support.client import UNIT, WsClient

TOKEN = "edge-test-token-0123456789"
REBIND = "rebind.attacker.example"
HANDSHAKE = (
    "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
)


async def raw_status(port: int, head: str, body: bytes = b"") -> int:
    """Send a hand-written request (duplicate headers, foreign Host) and return the status code."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), UNIT)
        return int(line.split()[1])
    finally:
        writer.close()


def handshake(host: str, *, path: str = "/", extra: str = "") -> str:
    return HANDSHAKE.format(path=path, host=host, extra=extra)


async def started(make_settings: Callable[..., Settings], **env: str) -> RunningServer:
    return await RunningServer(make_settings(**env)).start()


@pytest.fixture
async def guarded(make_settings: Callable[..., Settings]) -> AsyncIterator[RunningServer]:
    """A server with AUTH_TOKEN and a small failed-authentication budget."""
    running = await started(make_settings, AUTH_TOKEN=TOKEN, AUTH_FAIL_LIMIT="3", AUTH_FAIL_WINDOW="600")
    try:
        yield running
    finally:
        await running.stop()


def test_host_names_are_normalised() -> None:
    """Ports are dropped, IPv6 keeps its brackets, subdomain entries match, anything else does not."""
    assert host_name("LocalHost:8765") == "localhost"
    assert host_name("[::1]:8765") == "[::1]" and host_name("::1") == "[::1]"
    allowed = ("localhost", ".example.com")
    assert host_allowed("chat.example.com", allowed) and host_allowed("example.com", allowed)
    assert not host_allowed("evilexample.com", allowed) and not host_allowed("", allowed)
    assert not host_allowed("localhost.attacker.example", allowed)


def test_wildcard_bind_without_allowed_hosts_warns(tmp_path: Path) -> None:
    """HOST=0.0.0.0 without ALLOWED_HOSTS (or AUTH_TOKEN) is called out at start-up; loopback is quiet."""
    env = base_env(tmp_path, None)
    assert startup_warnings(Settings.from_env(env)) == []
    wild = startup_warnings(Settings.from_env({**env, "HOST": "0.0.0.0"}))
    assert any("ALLOWED_HOSTS is unset" in w for w in wild) and any("AUTH_TOKEN" in w for w in wild)
    named = Settings.from_env({**env, "HOST": "0.0.0.0", "ALLOWED_HOSTS": "chat.example.com", "AUTH_TOKEN": TOKEN})
    assert startup_warnings(named) == []


async def test_dns_rebinding_host_is_refused_on_http(server: RunningServer) -> None:
    """A foreign Host (a rebound DNS name) gets 421 on every HTTP route, /healthz included."""
    port = server.settings.port
    async with httpx.AsyncClient() as http:
        for path in ("/healthz", "/v1/skills", "/", "/v1/sessions"):
            refused = await http.get(server.http + path, headers={"Host": f"{REBIND}:{port}"})
            assert refused.status_code == 421, path
            assert refused.json()["code"] == "bad_host"
        ok = await http.get(server.http + "/healthz", headers={"Host": f"localhost:{port}"})
        assert ok.status_code == 200


async def test_dns_rebinding_host_is_refused_on_the_websocket(server: RunningServer) -> None:
    """A handshake with a foreign Host and the matching Origin is refused; the real Host is accepted."""
    port = server.settings.port
    rebound = handshake(f"{REBIND}:{port}", extra=f"Origin: http://{REBIND}:{port}\r\n")
    assert await raw_status(port, rebound) == 421
    assert await raw_status(port, handshake(f"{REBIND}:{port}")) == 421
    assert await raw_status(port, handshake(f"127.0.0.1:{port}")) == 101


async def test_origin_is_checked_against_the_allowlist_not_the_host(server: RunningServer) -> None:
    """An Origin naming a host that is not allowed is refused even when it equals the Host header."""
    port = server.settings.port
    same_as_host = handshake(f"127.0.0.1:{port}", extra=f"Origin: http://{REBIND}:{port}\r\n")
    assert await raw_status(port, same_as_host) == 403
    allowed = handshake(f"127.0.0.1:{port}", extra=f"Origin: http://localhost:{port}\r\n")
    assert await raw_status(port, allowed) == 101
    with pytest.raises(InvalidStatus) as info:
        await WsClient.connect(server.url, origin="null")  # type: ignore[arg-type]
    assert info.value.response.status_code == 403


async def test_two_origin_headers_are_a_400(server: RunningServer) -> None:
    """Duplicate Origin headers are refused with 400 on HTTP and on the handshake, never a 500."""
    port = server.settings.port
    two = f"Origin: http://127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n"
    assert await raw_status(port, handshake(f"127.0.0.1:{port}", extra=two)) == 400
    http_head = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{two}Connection: close\r\n\r\n"
    assert await raw_status(port, http_head) == 400


async def test_allowed_hosts_setting_replaces_the_default(make_settings: Callable[..., Settings]) -> None:
    """With ALLOWED_HOSTS=chat.example.com, that name is served and 127.0.0.1 is not."""
    running = await started(make_settings, ALLOWED_HOSTS="chat.example.com")
    try:
        async with httpx.AsyncClient() as http:
            assert (await http.get(running.http + "/healthz", headers={"Host": "chat.example.com"})).status_code == 200
            assert (await http.get(running.http + "/healthz")).status_code == 421
    finally:
        await running.stop()


async def test_cross_site_state_changes_are_refused(server: RunningServer) -> None:
    """POSTs a foreign page could send (foreign Origin, Sec-Fetch-Site: cross-site, text/plain) are refused."""
    url = server.http + "/v1/sessions"
    async with httpx.AsyncClient() as http:
        foreign = await http.post(url, json={}, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403
        fetch_site = await http.post(url, json={}, headers={"Sec-Fetch-Site": "cross-site"})
        assert fetch_site.status_code == 403 and fetch_site.json()["code"] == "csrf"
        plain = await http.post(url, content=b'{"title":"x"}', headers={"Content-Type": "text/plain"})
        assert plain.status_code == 415
        form = await http.post(url, data={"title": "x"})
        assert form.status_code == 415
        same = await http.post(
            url,
            json={"title": "mine"},
            headers={"Origin": server.http, "Sec-Fetch-Site": "same-origin"},
        )
        assert same.status_code == 201
        listed = (await http.get(url)).json()["sessions"]
        assert [s["title"] for s in listed] == ["mine"]


async def test_oversized_bodies_get_413(make_settings: Callable[..., Settings]) -> None:
    """Bodies over MAX_BODY_BYTES are 413 (by Content-Length and while streaming), except on paths a
    face registered a larger limit for."""
    running = await started(make_settings, MAX_BODY_BYTES="4096")
    try:
        url = running.http + "/v1/sessions"
        big = b'{"title":"' + b"x" * 10_000 + b'"}'
        async with httpx.AsyncClient() as http:
            declared = await http.post(url, content=big, headers={"Content-Type": "application/json"})
            assert declared.status_code == 413

            async def chunks() -> AsyncIterator[bytes]:
                for start in range(0, len(big), 1000):
                    yield big[start : start + 1000]

            chunked = await http.post(url, content=chunks(), headers={"Content-Type": "application/json"})
            assert chunked.status_code == 413
            assert (await http.get(running.http + "/healthz")).status_code == 200
            assert running.runtime is not None
            running.runtime.app.allow_larger_bodies(r"^/v1/sessions$", 64 * 1024)  # as an upload face does
            allowed = await http.post(url, content=big, headers={"Content-Type": "application/json"})
            assert allowed.status_code == 400 and "title" in allowed.json()["error"]  # past the edge: too long a title
            elsewhere = f"/v1/sessions/{allowed.request.url.path[-1]}x/messages"
            refused = await http.post(
                running.http + elsewhere, content=big, headers={"Content-Type": "application/json"}
            )
            assert refused.status_code == 413
    finally:
        await running.stop()


async def test_failed_http_authentications_are_throttled_per_address(guarded: RunningServer) -> None:
    """After AUTH_FAIL_LIMIT wrong tokens, even the right token gets 429, on HTTP and the WebSocket."""
    async with httpx.AsyncClient() as http:
        url = guarded.http + "/v1/skills"
        assert (await http.get(url, headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200
        for _ in range(3):
            assert (await http.get(url, headers={"Authorization": "Bearer wrong-guess-000000"})).status_code == 401
        assert (await http.get(url, headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 429
    with pytest.raises(InvalidStatus) as info:
        await WsClient.connect(guarded.url + f"?token={TOKEN}")
    assert info.value.response.status_code == 429


async def test_failed_auth_frames_are_throttled_too(guarded: RunningServer) -> None:
    """Wrong auth frames count against the same per-address budget as HTTP."""
    for _ in range(3):
        ws = await guarded.client()
        await ws.send(type="auth", token="wrong-guess-000000")
        assert (await ws.recv())["code"] == "unauthorized"
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    ws = await guarded.client()
    await ws.send(type="auth", token=TOKEN)
    refused = await ws.recv()
    assert refused["code"] == "unauthorized" and "too many" in refused["message"]
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    async with httpx.AsyncClient() as http:
        blocked = await http.get(guarded.http + "/v1/skills", headers={"Authorization": f"Bearer {TOKEN}"})
    assert blocked.status_code == 429


@pytest.mark.parametrize(("trusted", "other_blocked"), [("", True), ("127.0.0.1", False)])
async def test_client_addresses_come_from_trusted_proxies_only(
    make_settings: Callable[..., Settings], trusted: str, other_blocked: bool
) -> None:
    """X-Forwarded-For names the client only when the peer is in FORWARDED_ALLOW_IPS."""
    running = await started(
        make_settings, AUTH_TOKEN=TOKEN, AUTH_FAIL_LIMIT="2", AUTH_FAIL_WINDOW="600", FORWARDED_ALLOW_IPS=trusted
    )
    try:
        url = running.http + "/v1/skills"
        async with httpx.AsyncClient() as http:
            for _ in range(2):
                wrong = {"Authorization": "Bearer wrong-guess-000000", "X-Forwarded-For": "203.0.113.7"}
                assert (await http.get(url, headers=wrong)).status_code == 401
            same = {"Authorization": f"Bearer {TOKEN}", "X-Forwarded-For": "203.0.113.7"}
            assert (await http.get(url, headers=same)).status_code == 429
            other = {"Authorization": f"Bearer {TOKEN}", "X-Forwarded-For": "198.51.100.9"}
            assert (await http.get(url, headers=other)).status_code == (429 if other_blocked else 200)
    finally:
        await running.stop()


async def test_connections_beyond_max_connections_get_503(make_settings: Callable[..., Settings]) -> None:
    """MAX_CONNECTIONS open sockets: the next handshake is refused with 503; a freed slot is reusable."""
    running = await started(make_settings, MAX_CONNECTIONS="2")
    first, second = await running.client(), await running.client()
    try:
        for ws in (first, second):
            await ws.send(type="ping")
            assert (await ws.recv())["type"] == "pong"
        with pytest.raises(InvalidStatus) as info:
            await running.client()
        assert info.value.response.status_code == 503
        await first.close()
        for _ in range(100):  # the server notices the close asynchronously: retry until the slot frees
            try:
                third = await running.client()
                break
            except InvalidStatus as exc:
                assert exc.response.status_code == 503
        else:
            pytest.fail("the freed connection slot was never reused")
        await third.send(type="ping")
        assert (await third.recv())["type"] == "pong"
        await third.close()
    finally:
        await second.close()
        await running.stop()


async def test_event_streams_count_against_max_connections(make_settings: Callable[..., Settings]) -> None:
    """An open WebSocket fills MAX_CONNECTIONS=1: an event stream is then refused with 503."""
    running = await started(make_settings, MAX_CONNECTIONS="1")
    ws = await running.client()
    try:
        await ws.send(type="ping")
        assert (await ws.recv())["type"] == "pong"
        async with httpx.AsyncClient(base_url=running.http) as http:
            sid = (await http.post("/v1/sessions")).json()["session_id"]
            refused = await http.get(f"/v1/sessions/{sid}/events")
            assert refused.status_code == 503 and refused.json()["code"] == "unavailable"
    finally:
        await ws.close()
        await running.stop()
