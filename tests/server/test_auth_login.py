"""AUTH_MODE=keys with users: password sign-in, the session cookie, signed tokens, logout, throttling."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable

import httpx
import jwt
import pytest

from backend.settings import Settings
from tests.conftest import RunningServer

SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def users(make_settings: Callable[..., Settings]) -> AsyncIterator[RunningServer]:
    """A keys-mode server with user ada (tenant acme, admin) and bob (tenant acme)."""
    running = await RunningServer(make_settings(AUTH_MODE="keys", AUTH_SECRET=SECRET)).start()
    assert running.runtime is not None
    accounts = running.runtime.sessions.services.accounts
    await accounts.create_user("ada", PASSWORD, tenant="acme", admin=True)
    await accounts.create_user("bob", PASSWORD, tenant="acme")
    try:
        yield running
    finally:
        await running.stop()


async def login(http: httpx.AsyncClient, server: RunningServer, user: str, password: str = PASSWORD) -> httpx.Response:
    return await http.post(f"{server.http}/v1/auth/login", json={"username": user, "password": password})


async def test_login_sets_a_strict_httponly_cookie_and_returns_a_token(users: RunningServer) -> None:
    """The right password gives a signed token with an expiry and an HttpOnly SameSite=Strict cookie; both work."""
    async with httpx.AsyncClient() as http:
        response = await login(http, users, "ada")
        assert response.status_code == 200
        body = response.json()
        assert body["expires_at"] > time.time() and body["user"]["tenant"] == "acme"
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        me = await http.get(f"{users.http}/v1/auth/me")  # the cookie jar carries the cookie
        assert me.status_code == 200 and me.json()["tenant"] == "acme" and "admin" in me.json()["scopes"]
    async with httpx.AsyncClient() as http:
        bearer = {"Authorization": f"Bearer {body['token']}"}
        assert (await http.get(f"{users.http}/v1/sessions", headers=bearer)).status_code == 200
        assert (await http.post(f"{users.http}/v1/auth/logout", headers=bearer)).status_code == 200
        assert (await http.get(f"{users.http}/v1/sessions", headers=bearer)).status_code == 401


async def test_a_user_without_admin_is_refused_on_admin_routes(users: RunningServer) -> None:
    """A signed-in non-admin gets 403 on /v1/api-keys and /v1/audit; an admin of acme sees acme's keys only."""
    async with httpx.AsyncClient() as http:
        bob = {"Authorization": f"Bearer {(await login(http, users, 'bob')).json()['token']}"}
        ada = {"Authorization": f"Bearer {(await login(http, users, 'ada')).json()['token']}"}
        assert (await http.get(f"{users.http}/v1/api-keys", headers=bob)).status_code == 403
        assert (await http.get(f"{users.http}/v1/audit", headers=bob)).status_code == 403
        made = await http.post(f"{users.http}/v1/api-keys", json={"name": "acme-bot"}, headers=ada)
        assert made.status_code == 201 and made.json()["tenant"] == "acme"
        keys = (await http.get(f"{users.http}/v1/api-keys", headers=ada)).json()["keys"]
        assert [k["name"] for k in keys] == ["acme-bot"]


async def test_forged_expired_and_unsigned_tokens_are_refused(users: RunningServer) -> None:
    """A token signed with another secret, an expired one and one with alg none all get 401."""
    async with httpx.AsyncClient() as http:
        good = (await login(http, users, "bob")).json()["token"]
    claims = jwt.decode(good, options={"verify_signature": False})
    forged = jwt.encode({**claims, "tid": "public"}, "another-secret-" + "y" * 40, algorithm="HS256")
    expired = jwt.encode({**claims, "exp": int(time.time()) - 3600}, SECRET, algorithm="HS256")

    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    async with httpx.AsyncClient() as http:
        for token in (forged, expired, unsigned):
            response = await http.get(f"{users.http}/v1/sessions", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, token


async def test_wrong_passwords_are_throttled_per_user(users: RunningServer) -> None:
    """Repeated wrong passwords end in 429 with Retry-After, for that user and from that address."""
    async with httpx.AsyncClient() as http:
        statuses = [(await login(http, users, "bob", "wrong password!")).status_code for _ in range(8)]
        assert statuses[0] == 401 and statuses[-1] == 429
        throttled = await login(http, users, "bob")
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
        unknown = await login(http, users, "nobody", "whatever123")
        assert unknown.status_code in (401, 429) and "nobody" not in unknown.text
        # the address is throttled too: another user's right password from here waits as well
        assert (await login(http, users, "ada")).status_code == 429
