"""AUTH_MODE=keys: API keys over HTTP and WebSocket, bootstrap, revocation, tenants, request ids, audit."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from backend.errors import SettingsError
from backend.main import check_auth
from backend.settings import Settings
from tests.conftest import RunningServer, base_env
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import WsClient

JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def keyed(make_settings: Callable[..., Settings]) -> AsyncIterator[RunningServer]:
    """A server with AUTH_MODE=keys and a fresh store (no key yet)."""
    running = await RunningServer(make_settings(AUTH_MODE="keys", AUTH_FAIL_LIMIT="50")).start()
    try:
        yield running
    finally:
        await running.stop()


async def bootstrap(http: httpx.AsyncClient, server: RunningServer) -> str:
    response = await http.post(f"{server.http}/v1/api-keys", json={"name": "first"})
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def auth(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


async def test_bootstrap_works_once_then_needs_an_admin_key(keyed: RunningServer) -> None:
    """The first POST /v1/api-keys from loopback creates an admin key once; the next one needs credentials."""
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{keyed.http}/v1/sessions")).status_code == 401
        first = await http.post(f"{keyed.http}/v1/api-keys", json={"name": "first"})
        assert first.status_code == 201
        body = first.json()
        assert body["key"].startswith("ac_") and body["scopes"] == ["chat", "admin"] and body["tenant"] == "public"
        again = await http.post(f"{keyed.http}/v1/api-keys", json={"name": "second"})
        assert again.status_code == 401 and "ac_" not in again.text
        listing = await http.get(f"{keyed.http}/v1/api-keys", headers=auth(body["key"]))
        assert listing.status_code == 200
        assert [k["name"] for k in listing.json()["keys"]] == ["first"]
        assert body["key"] not in listing.text and "digest" not in listing.text


async def test_bootstrap_is_refused_when_the_real_client_is_not_loopback(
    make_settings: Callable[..., Settings],
) -> None:
    """Behind a trusted proxy, a bootstrap from a remote client (X-Forwarded-For) is refused."""
    running = await RunningServer(make_settings(AUTH_MODE="keys", FORWARDED_ALLOW_IPS="127.0.0.1")).start()
    try:
        async with httpx.AsyncClient() as http:
            remote = {"X-Forwarded-For": "203.0.113.7"}
            response = await http.post(f"{running.http}/v1/api-keys", json={"name": "x"}, headers=remote)
            assert response.status_code == 401
            assert (await http.post(f"{running.http}/v1/api-keys", json={"name": "x"})).status_code == 201
    finally:
        await running.stop()


async def test_key_chats_over_http_and_websocket_until_revoked(
    keyed: RunningServer, fake_model: FakeModelServer
) -> None:
    """A key works on HTTP and WebSocket; once revoked it gets 401 on HTTP and its open socket is closed."""
    fake_model.enqueue(Reply.of_text("hello there"))
    async with httpx.AsyncClient() as http:
        admin = await bootstrap(http, keyed)
        made = await http.post(f"{keyed.http}/v1/api-keys", json={"name": "chat"}, headers=auth(admin))
        assert made.status_code == 201 and made.json()["scopes"] == ["chat"]
        key, key_id = made.json()["key"], made.json()["id"]
        created = await http.post(f"{keyed.http}/v1/sessions", json={}, headers={"x-api-key": key})
        assert created.status_code == 201
        ws = await WsClient.connect(keyed.url, additional_headers=auth(key))
        try:
            events = await ws.turn("hi")
            assert events[-1]["type"] == "done"
            revoked = await http.patch(
                f"{keyed.http}/v1/api-keys/{key_id}", json={"status": "revoked"}, headers=auth(admin)
            )
            assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
            assert (await http.get(f"{keyed.http}/v1/sessions", headers=auth(key))).status_code == 401
            await ws.send(type="ping")
            reply = await ws.recv()
            assert reply["type"] == "error" and reply["code"] == "unauthorized"
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.ws.close_code == 1008
        finally:
            await ws.close()
        again = await http.patch(f"{keyed.http}/v1/api-keys/{key_id}", json={"status": "active"}, headers=auth(admin))
        assert again.status_code == 409  # revoked is final


async def test_wrong_disabled_expired_keys_and_keys_in_urls_are_refused(keyed: RunningServer) -> None:
    """No key, a wrong key, a disabled key, an expired key and a key in the query string all get 401."""
    url = f"{keyed.http}/v1/sessions"
    async with httpx.AsyncClient() as http:
        admin = await bootstrap(http, keyed)
        assert (await http.get(url)).status_code == 401
        assert (await http.get(url, headers=auth("ac_" + "x" * 43))).status_code == 401
        assert (await http.get(url, headers=auth("not-a-key"))).status_code == 401
        assert (await http.get(url, params={"token": admin})).status_code == 401
        made = await http.post(f"{keyed.http}/v1/api-keys", json={"name": "d"}, headers=auth(admin))
        key, key_id = made.json()["key"], made.json()["id"]
        assert (await http.get(url, headers=auth(key))).status_code == 200
        disabled = await http.patch(
            f"{keyed.http}/v1/api-keys/{key_id}", json={"status": "disabled"}, headers=auth(admin)
        )
        assert disabled.status_code == 200
        refused = await http.get(url, headers=auth(key))
        assert refused.status_code == 401 and "disabled" in refused.json()["error"]
        await http.patch(f"{keyed.http}/v1/api-keys/{key_id}", json={"status": "active"}, headers=auth(admin))
        assert (await http.get(url, headers=auth(key))).status_code == 200
        past = await http.post(
            f"{keyed.http}/v1/api-keys", json={"name": "old", "expires_at": time.time() - 1}, headers=auth(admin)
        )
        expired = await http.get(url, headers=auth(past.json()["key"]))
        assert expired.status_code == 401 and "expired" in expired.json()["error"]
        with pytest.raises(InvalidStatus) as info:
            await WsClient.connect(keyed.url + f"?token={admin}")
        assert info.value.response.status_code == 401


async def test_chat_scope_is_refused_on_admin_routes(keyed: RunningServer) -> None:
    """A key with only the chat scope gets 403 on the key and audit routes."""
    async with httpx.AsyncClient() as http:
        admin = await bootstrap(http, keyed)
        chat = (await http.post(f"{keyed.http}/v1/api-keys", json={"name": "c"}, headers=auth(admin))).json()["key"]
        assert (await http.get(f"{keyed.http}/v1/api-keys", headers=auth(chat))).status_code == 403
        assert (await http.post(f"{keyed.http}/v1/api-keys", json={}, headers=auth(chat))).status_code == 403
        assert (await http.get(f"{keyed.http}/v1/audit", headers=auth(chat))).status_code == 403


async def test_tenant_header_must_match_and_request_ids_are_echoed(keyed: RunningServer) -> None:
    """x-tenant-id naming another tenant is 403; x-request-id is reused when sent, generated otherwise."""
    url = f"{keyed.http}/v1/sessions"
    async with httpx.AsyncClient() as http:
        admin = await bootstrap(http, keyed)
        other = await http.get(url, headers=auth(admin, **{"x-tenant-id": "acme"}))
        assert other.status_code == 403
        same = await http.get(url, headers=auth(admin, **{"x-tenant-id": "public", "x-request-id": "req-42"}))
        assert same.status_code == 200 and same.headers["x-request-id"] == "req-42"
        generated = await http.get(url, headers=auth(admin))
        assert len(generated.headers["x-request-id"]) >= 16
        refused = await http.get(url)
        assert refused.status_code == 401 and refused.headers["x-request-id"]
        page = await http.get(f"{keyed.http}/")
        assert page.headers["x-request-id"]


async def test_websocket_accepts_the_auth_frame_and_refuses_a_wrong_one(keyed: RunningServer) -> None:
    """Without headers, a socket authenticates with {"type":"auth","token":key}; a wrong key closes it."""
    async with httpx.AsyncClient() as http:
        admin = await bootstrap(http, keyed)
    ws = await keyed.client()
    try:
        await ws.send(type="auth", token=admin)
        reply = await ws.recv()
        assert reply["type"] == "auth" and reply["ok"] is True
        await ws.send(type="ping")
        assert (await ws.recv())["type"] == "pong"
    finally:
        await ws.close()
    bad = await keyed.client()
    try:
        await bad.send(type="auth", token="ac_" + "y" * 43)
        assert (await bad.recv())["code"] == "unauthorized"
        with pytest.raises(ConnectionClosed):
            await bad.recv()
    finally:
        await bad.close()
    with pytest.raises(InvalidStatus) as info:
        await WsClient.connect(keyed.url, additional_headers=auth("ac_" + "z" * 43))
    assert info.value.response.status_code == 401


async def test_audit_shows_requests_with_their_ids_and_no_secret(keyed: RunningServer) -> None:
    """GET /v1/audit lists the calls with the request ids the client saw, refusals included, no key."""
    async with httpx.AsyncClient() as http:
        admin = await bootstrap(http, keyed)
        ok = await http.get(f"{keyed.http}/v1/sessions", headers=auth(admin, **{"x-request-id": "audit-ok"}))
        bad = await http.get(f"{keyed.http}/v1/sessions", headers={"x-api-key": "ac_" + "q" * 43,
                                                                    "x-request-id": "audit-bad"})  # fmt: skip
        assert ok.status_code == 200 and bad.status_code == 401
        audit = await http.get(f"{keyed.http}/v1/audit", headers=auth(admin))
        assert audit.status_code == 200
        rows = {row["request_id"]: row for row in audit.json()["rows"]}
        assert rows["audit-ok"]["status"] == 200 and rows["audit-ok"]["tenant"] == "public"
        assert rows["audit-ok"]["path"] == "/v1/sessions" and rows["audit-ok"]["key_id"]
        assert rows["audit-bad"]["status"] == 401 and rows["audit-bad"]["actor"] is None
        assert "ac_" not in audit.text
        filtered = await http.get(f"{keyed.http}/v1/audit", params={"action": "GET /v1/sessions", "limit": "1"},
                                  headers=auth(admin))  # fmt: skip
        assert [r["request_id"] for r in filtered.json()["rows"]] == ["audit-bad"]


def test_auth_none_refuses_a_public_host_unless_insecure_is_allowed(tmp_path: Path) -> None:
    """HOST=0.0.0.0 with AUTH_MODE=none refuses to start with a clear message; ALLOW_INSECURE=1 overrides."""
    env = base_env(tmp_path, None)
    with pytest.raises(SettingsError) as info:
        check_auth(Settings.from_env({**env, "HOST": "0.0.0.0"}))
    assert "AUTH_MODE=keys" in info.value.message
    check_auth(Settings.from_env({**env, "HOST": "0.0.0.0", "ALLOW_INSECURE": "1"}))
    check_auth(Settings.from_env({**env, "HOST": "0.0.0.0", "AUTH_MODE": "keys"}))
    check_auth(Settings.from_env(env))
    with pytest.raises(SettingsError):
        check_auth(Settings.from_env({**env, "AUTH_MODE": "token"}))


async def test_websocket_commands_and_failed_auth_frames_are_audited(
    keyed: RunningServer, fake_model: FakeModelServer
) -> None:
    """A WebSocket message is an audit row with its session; a wrong auth frame is a 401 row; no content."""
    fake_model.enqueue(Reply.of_text("audited reply"))
    async with httpx.AsyncClient() as http:
        admin = await bootstrap(http, keyed)
        ws = await WsClient.connect(keyed.url, additional_headers=auth(admin))
        try:
            events = await ws.turn("a secret message body")
            session_id = events[-1]["session_id"]
        finally:
            await ws.close()
        bad = await keyed.client()
        try:
            await bad.send(type="auth", token="ac_" + "w" * 43)
            assert (await bad.recv())["code"] == "unauthorized"
        finally:
            await bad.close()
        audit = await http.get(f"{keyed.http}/v1/audit", params={"action": "ws message"}, headers=auth(admin))
        rows = audit.json()["rows"]
        assert [(r["session_id"], r["status"]) for r in rows] == [(session_id, 200)]
        assert "secret message" not in audit.text
        failed = await http.get(f"{keyed.http}/v1/audit", params={"action": "ws auth"}, headers=auth(admin))
        assert [(r["status"], r["actor"]) for r in failed.json()["rows"]] == [(401, None)]


async def test_every_response_carries_security_headers_and_hsts_only_over_https(
    make_settings: Callable[..., Settings],
) -> None:
    """API, health and refusal responses get nosniff, no-referrer, frame-ancestors 'none'; the page keeps its
    own CSP; HSTS appears only when a trusted proxy says the client used https."""
    running = await RunningServer(make_settings(FORWARDED_ALLOW_IPS="127.0.0.1")).start()
    try:
        async with httpx.AsyncClient() as http:
            for path in ("/healthz", "/v1/sessions", "/v1/sessions/nope"):
                response = await http.get(f"{running.http}{path}")
                assert response.headers["x-content-type-options"] == "nosniff"
                assert response.headers["referrer-policy"] == "no-referrer"
                assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
                assert "strict-transport-security" not in response.headers
            page = await http.get(f"{running.http}/")
            assert "script-src 'self'" in page.headers["content-security-policy"]
            assert page.headers["content-security-policy"].count("frame-ancestors") == 1
            proxied = await http.get(f"{running.http}/healthz", headers={"X-Forwarded-Proto": "https"})
            assert proxied.headers["strict-transport-security"].startswith("max-age=")
    finally:
        await running.stop()
