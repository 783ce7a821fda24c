"""Keys, users, revoked tokens, audit rows and session owners in the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import time

from backend.store import AuditRow, KeyRow, Store, UserRow


def _key(key_id: str, tenant: str = "public") -> KeyRow:
    return KeyRow(key_id, tenant, None, "n", "ac_abcdefgh", ("chat",), "active", None, None, time.time(), "d" + key_id)


async def test_keys_round_trip_bootstrap_once_and_revoked_is_final(store: Store) -> None:
    """A key is found by digest; only_if_none adds the first key only; a revoked key cannot come back."""
    assert await store.keys.add(_key("k1"), only_if_none=True)
    assert not await store.keys.add(_key("k2"), only_if_none=True)
    assert await store.keys.add(_key("k3", "acme"))
    found = await store.keys.by_digest("dk1")
    assert found is not None and found.id == "k1" and found.scopes == ("chat",)
    assert [k.id for k in await store.keys.list("acme")] == ["k3"]
    assert await store.keys.count() == 2
    assert await store.keys.set_status("k1", "revoked")
    assert not await store.keys.set_status("k1", "active")
    await store.keys.touch("k3", 123.0)
    k3 = await store.keys.get("k3")
    assert k3 is not None and k3.last_used_at == 123.0


async def test_users_tokens_audit_and_session_owners(store: Store) -> None:
    """User names are unique; revoked token ids are remembered; audit rows filter by tenant; sessions
    list by tenant and owner."""
    user = UserRow("u1", "acme", "ada", "hash", False, "active", time.time())
    assert await store.users.add(user)
    assert not await store.users.add(UserRow("u2", "public", "ada", "h", False, "active", time.time()))
    assert (await store.users.by_name("ada")) == user
    await store.revoked_tokens.revoke("jti-1", time.time() + 60)
    await store.revoked_tokens.revoke("jti-1", time.time() + 60)
    assert await store.revoked_tokens.is_revoked("jti-1") and not await store.revoked_tokens.is_revoked("jti-2")
    rows = [AuditRow(time.time(), f"r{i}", tenant, "u1", None, "127.0.0.1", "GET /v1/x", "GET", "/v1/x", None, 200, 1.0)
            for i, tenant in enumerate(["acme", "public", None])]  # fmt: skip
    await store.audit.add(rows)
    assert [r.request_id for r in await store.audit.query(tenant="acme")] == ["r0"]
    assert {r.request_id for r in await store.audit.query(tenant="public", with_anonymous=True)} == {"r1", "r2"}
    await store.sessions.create("s3", tenant="acme", owner="u1")
    await store.sessions.create("s4", tenant="acme", owner="u9")
    assert {s.id for s in await store.sessions.list(tenant="acme")} == {"s3", "s4"}
    assert [s.id for s in await store.sessions.list(tenant="acme", owner="u1")] == ["s3"]
    row = await store.sessions.get("s3")
    assert row is not None and (row.tenant, row.owner) == ("acme", "u1")
    old = await store.sessions.get("s1")
    assert old is not None and (old.tenant, old.owner) == ("public", None)
