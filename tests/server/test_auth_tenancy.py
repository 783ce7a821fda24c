"""AUTH_MODE=keys tenancy: two tenants, two users each; nobody sees what another owns, and another
tenant's session id answers exactly like an unknown one, on HTTP and on the WebSocket."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from backend.settings import Settings
from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support.client import WsClient

JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def tenants(make_settings: Callable[..., Settings]) -> AsyncIterator[tuple[RunningServer, dict[str, str]]]:
    """A keys-mode server with keys: acme admin, acme users a1/a2, globex user g1."""
    running = await RunningServer(make_settings(AUTH_MODE="keys")).start()
    assert running.runtime is not None
    accounts = running.runtime.sessions.services.accounts
    keys: dict[str, str] = {}
    for name, tenant, admin in (("acme-admin", "acme", True), ("a1", "acme", False), ("a2", "acme", False),
                                ("g1", "globex", False)):  # fmt: skip
        created = await accounts.create_key(name, tenant=tenant, admin=admin)
        assert created is not None
        keys[name] = created[0]
    try:
        yield running, keys
    finally:
        await running.stop()


def h(key: str) -> dict[str, str]:
    return {"x-api-key": key}


async def test_each_caller_sees_only_what_it_owns_and_others_get_unknown(
    tenants: tuple[RunningServer, dict[str, str]],
) -> None:
    """Listings are per owner (per tenant for its admin); another's session answers like a random id."""
    server, keys = tenants
    base = server.http
    async with httpx.AsyncClient() as http:
        mine = (await http.post(f"{base}/v1/sessions", json={"title": "a1's"}, headers=h(keys["a1"]))).json()
        theirs = (await http.post(f"{base}/v1/sessions", json={"title": "g1's"}, headers=h(keys["g1"]))).json()
        sid = mine["session_id"]

        def listed(response: httpx.Response) -> set[str]:
            return {s["session_id"] for s in response.json()["sessions"]}

        assert listed(await http.get(f"{base}/v1/sessions", headers=h(keys["a1"]))) == {sid}
        assert listed(await http.get(f"{base}/v1/sessions", headers=h(keys["a2"]))) == set()
        assert listed(await http.get(f"{base}/v1/sessions", headers=h(keys["acme-admin"]))) == {sid}
        assert listed(await http.get(f"{base}/v1/sessions", headers=h(keys["g1"]))) == {theirs["session_id"]}
        random_id = uuid.uuid4().hex
        for suffix in ("", "/history", "/traces", "/files", "/export"):
            unknown = await http.get(f"{base}/v1/sessions/{random_id}{suffix}", headers=h(keys["g1"]))
            foreign = await http.get(f"{base}/v1/sessions/{sid}{suffix}", headers=h(keys["g1"]))
            assert foreign.status_code == unknown.status_code == 404, suffix
            assert foreign.json()["code"] == unknown.json()["code"] == "unknown_session"
            assert foreign.json()["error"].replace(sid, "X") == unknown.json()["error"].replace(random_id, "X")
        for key in ("a2", "g1"):
            post = await http.post(f"{base}/v1/sessions/{sid}/messages", json={"content": "hi"}, headers=h(keys[key]))
            assert post.status_code == 404
            assert (await http.delete(f"{base}/v1/sessions/{sid}", headers=h(keys[key]))).status_code == 404
            events = await http.get(f"{base}/v1/sessions/{sid}/events", headers=h(keys[key]))
            assert events.status_code == 404
        assert (await http.get(f"{base}/v1/sessions/{sid}", headers=h(keys["acme-admin"]))).status_code == 200
        assert (await http.get(f"{base}/v1/sessions/{sid}/history", headers=h(keys["a1"]))).status_code == 200


async def test_websocket_resume_and_message_of_another_tenant_are_unknown(
    tenants: tuple[RunningServer, dict[str, str]],
) -> None:
    """Over the WebSocket, resume/message/delete of another tenant's session give unknown_session, like a random id."""
    server, keys = tenants
    async with httpx.AsyncClient() as http:
        sid = (await http.post(f"{server.http}/v1/sessions", json={}, headers=h(keys["a1"]))).json()["session_id"]
    ws = await WsClient.connect(server.url, additional_headers=h(keys["g1"]))
    try:
        answers = []
        for target in (sid, uuid.uuid4().hex):
            for frame in ({"type": "resume", "session_id": target, "last_seq": 0},
                          {"type": "message", "session_id": target, "content": "hi"},
                          {"type": "delete", "session_id": target}):  # fmt: skip
                await ws.send(**frame)
                reply = await ws.recv()
                answers.append((reply["type"], reply["code"]))
        assert answers == [("error", "unknown_session")] * 6
        await ws.send(type="sessions")
        assert (await ws.recv())["sessions"] == []
    finally:
        await ws.close()


async def test_stats_are_scoped_to_the_callers_tenant(
    tenants: tuple[RunningServer, dict[str, str]], fake_model: FakeModelServer
) -> None:
    """/v1/stats and /stats count only the caller's tenant's turns."""
    server, keys = tenants
    fake_model.enqueue(Reply.of_text("for acme"), Reply.of_text("for globex"))
    for key in ("a1", "g1"):
        ws = await WsClient.connect(server.url, additional_headers=h(keys[key]))
        try:
            assert (await ws.turn("hello"))[-1]["type"] == "done"
        finally:
            await ws.close()
    async with httpx.AsyncClient() as http:
        acme = (await http.get(f"{server.http}/v1/stats", headers=h(keys["a1"]))).json()
        globex = (await http.get(f"{server.http}/v1/stats", headers=h(keys["g1"]))).json()
        legacy = (await http.get(f"{server.http}/stats", headers=h(keys["g1"]))).json()
    assert acme["totals"]["requests"] == globex["totals"]["requests"] == 1
    assert {s["session_id"] for s in acme["by_session"]}.isdisjoint({s["session_id"] for s in globex["by_session"]})
    assert legacy["total_requests"] == 1


async def test_a_socket_authenticates_with_the_session_cookie(make_settings: Callable[..., Settings]) -> None:
    """After a browser sign-in, the WebSocket handshake carrying the session cookie is authenticated."""
    running = await RunningServer(make_settings(AUTH_MODE="keys")).start()
    try:
        assert running.runtime is not None
        await running.runtime.sessions.services.accounts.create_user("cy", "long enough password", tenant="acme")
        async with httpx.AsyncClient() as http:
            login = {"username": "cy", "password": "long enough password"}
            signed = await http.post(f"{running.http}/v1/auth/login", json=login)
            cookie = signed.headers["set-cookie"].split(";", 1)[0]
        ws = await WsClient.connect(running.url, additional_headers={"Cookie": cookie})
        try:
            await ws.send(type="new")
            assert (await ws.recv())["type"] == "session"
        finally:
            await ws.close()
    finally:
        await running.stop()


async def test_requests_per_minute_are_limited_per_key(make_settings: Callable[..., Settings]) -> None:
    """Beyond CALLER_REQUESTS_PER_MINUTE a key gets 429 with Retry-After; another key is not affected."""
    running = await RunningServer(make_settings(AUTH_MODE="keys", CALLER_REQUESTS_PER_MINUTE="3")).start()
    try:
        assert running.runtime is not None
        accounts = running.runtime.sessions.services.accounts
        first, second = [(await accounts.create_key(n)) for n in ("one", "two")]
        assert first is not None and second is not None
        async with httpx.AsyncClient() as http:
            codes = [(await http.get(f"{running.http}/v1/sessions", headers=h(first[0]))).status_code for _ in range(4)]
            assert codes == [200, 200, 200, 429]
            limited = await http.get(f"{running.http}/v1/sessions", headers=h(first[0]))
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
            assert (await http.get(f"{running.http}/v1/sessions", headers=h(second[0]))).status_code == 200
    finally:
        await running.stop()


async def test_the_daily_token_budget_stops_new_turns(
    make_settings: Callable[..., Settings], fake_model: FakeModelServer
) -> None:
    """After CALLER_TOKENS_PER_DAY tokens, new turns get 429 quota_exceeded (HTTP, with Retry-After) and a
    quota_exceeded error frame (WebSocket); reading still works; another user is not affected."""
    running = await RunningServer(make_settings(AUTH_MODE="keys", CALLER_TOKENS_PER_DAY="1")).start()
    try:
        assert running.runtime is not None
        accounts = running.runtime.sessions.services.accounts
        spender, other = [(await accounts.create_key(n)) for n in ("spender", "other")]
        assert spender is not None and other is not None
        fake_model.enqueue(Reply.of_text("first answer"))
        ws = await WsClient.connect(running.url, additional_headers=h(spender[0]))
        try:
            done = (await ws.turn("hello"))[-1]
            assert done["type"] == "done"
            await ws.send(type="message", content="again")
            refused = await ws.recv_until("error")
            assert refused[-1]["code"] == "quota_exceeded"
        finally:
            await ws.close()
        async with httpx.AsyncClient() as http:
            url = f"{running.http}/v1/sessions/{done['session_id']}/messages"
            blocked = await http.post(url, json={"content": "more"}, headers=h(spender[0]))
            assert blocked.status_code == 429 and blocked.json()["code"] == "quota_exceeded"
            assert int(blocked.headers["retry-after"]) >= 1
            assert (await http.get(f"{running.http}/v1/sessions", headers=h(spender[0]))).status_code == 200
            fresh = await http.post(f"{running.http}/v1/sessions", json={}, headers=h(other[0]))
            assert fresh.status_code == 201
    finally:
        await running.stop()


async def test_mcp_tools_on_another_tenants_session_answer_unknown(
    tenants: tuple[RunningServer, dict[str, str]],
) -> None:
    """/mcp in keys mode: a key reaches its own session's todos; another tenant's session is 'unknown session'."""
    from tests.server.test_mcp import mcp_client_call

    server, keys = tenants
    async with httpx.AsyncClient() as http:
        sid = (await http.post(f"{server.http}/v1/sessions", json={}, headers=h(keys["a1"]))).json()["session_id"]
    own = await mcp_client_call(server.http, "add_todo", {"session_id": sid, "title": "mine"}, headers=h(keys["a1"]))
    assert not own.isError
    foreign = await mcp_client_call(server.http, "list_todos", {"session_id": sid}, headers=h(keys["g1"]))
    unknown = await mcp_client_call(server.http, "list_todos", {"session_id": "nosuchsession"}, headers=h(keys["g1"]))
    assert foreign.isError and unknown.isError
    assert foreign.content[0].text.replace(sid, "X") == unknown.content[0].text.replace("nosuchsession", "X")


async def test_a_cookie_from_another_user_sees_only_its_own_user(make_settings: Callable[..., Settings]) -> None:
    """Two signed-in users of one tenant: each cookie is its own user's; the other's session answers
    like an unknown id (and a cookie whose signature was altered is refused outright)."""
    running = await RunningServer(make_settings(AUTH_MODE="keys")).start()
    try:
        assert running.runtime is not None
        accounts = running.runtime.sessions.services.accounts
        for name in ("dee", "eve"):
            await accounts.create_user(name, f"{name} long enough password", tenant="acme")
        cookies = {}
        async with httpx.AsyncClient() as http:
            for name in ("dee", "eve"):
                login = {"username": name, "password": f"{name} long enough password"}
                signed = await http.post(f"{running.http}/v1/auth/login", json=login)
                cookies[name] = signed.headers["set-cookie"].split(";", 1)[0]
            made = await http.post(f"{running.http}/v1/sessions", json={}, headers={"Cookie": cookies["dee"]})
            sid = made.json()["session_id"]
            mine = await http.get(f"{running.http}/v1/sessions/{sid}", headers={"Cookie": cookies["dee"]})
            theirs = await http.get(f"{running.http}/v1/sessions/{sid}", headers={"Cookie": cookies["eve"]})
            assert mine.status_code == 200
            assert theirs.status_code == 404 and theirs.json()["code"] == "unknown_session"
            name, _, value = cookies["eve"].partition("=")
            forged = f"{name}={value[:-4]}{'AAAA' if not value.endswith('AAAA') else 'BBBB'}"
            refused = await http.get(f"{running.http}/v1/sessions", headers={"Cookie": forged})
            assert refused.status_code == 401
    finally:
        await running.stop()


async def test_uploads_live_in_the_tenants_folder(tenants: tuple[RunningServer, dict[str, str]]) -> None:
    """An acme user's upload lands in DATA_DIR/uploads/acme/<session>/, its terminal reads it at
    /uploads, another tenant cannot list it, and deleting the session removes the folder."""
    server, keys = tenants
    base = server.http
    async with httpx.AsyncClient(timeout=10) as http:
        sid = (await http.post(f"{base}/v1/sessions", json={}, headers=h(keys["a1"]))).json()["session_id"]
        sent = await http.post(
            f"{base}/v1/sessions/{sid}/files", files={"file": ("plan.txt", b"step one\n")}, headers=h(keys["a1"])
        )
        assert sent.status_code == 201, sent.text
        folder = server.settings.data_dir / "uploads" / "acme" / sid
        assert (folder / "plan.txt").read_bytes() == b"step one\n"
        assert not (server.settings.data_dir / "uploads" / "public" / sid).exists()
        assert (await http.get(f"{base}/v1/sessions/{sid}/files", headers=h(keys["g1"]))).status_code == 404
        ran = await http.post(
            f"{base}/v1/sessions/{sid}/messages", json={"content": "!cat /uploads/plan.txt"}, headers=h(keys["a1"])
        )
        assert ran.status_code == 202
        async with http.stream("GET", f"{base}/v1/sessions/{sid}/events", headers=h(keys["a1"])) as events:
            async for line in events.aiter_lines():
                if line.startswith("data:") and '"type":"tool_result"' in line.replace(" ", ""):
                    assert "step one" in line
                    break
        assert (await http.delete(f"{base}/v1/sessions/{sid}", headers=h(keys["a1"]))).status_code == 200
        assert not folder.exists()
