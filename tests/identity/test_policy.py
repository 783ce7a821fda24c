"""Who sees what, which configurations may start, and how failed sign-ins are slowed and locked."""

from __future__ import annotations

import pytest

from backend.errors import ForbiddenError
from backend.identity.principal import AuthMode, Principal, startup_problem
from backend.identity.throttle import LoginThrottle


def test_callers_see_their_own_admins_their_tenant_and_nobody_another_tenant() -> None:
    """Ownership: self yes, tenant admin yes, another user no, another tenant never."""
    alice = Principal(tenant="acme", user_id="alice")
    admin = Principal(tenant="acme", user_id="root", scopes=frozenset({"chat", "admin"}))
    assert alice.may_see("acme", "alice")
    assert not alice.may_see("acme", "bob")
    assert admin.may_see("acme", "bob")
    assert not admin.may_see("globex", "bob")
    assert not alice.may_see("globex", "alice")


def test_scopes_and_the_tenant_header_are_enforced() -> None:
    """A chat-only key cannot act as admin; x-tenant-id must name the caller's tenant."""
    alice = Principal(tenant="acme", user_id="alice")
    alice.require("chat")
    with pytest.raises(ForbiddenError):
        alice.require("admin")
    alice.check_tenant_header(None)
    alice.check_tenant_header("acme")
    with pytest.raises(ForbiddenError):
        alice.check_tenant_header("globex")


@pytest.mark.parametrize(
    ("mode", "host", "insecure", "token", "refused"),
    [
        (AuthMode.NONE, "127.0.0.1", False, False, False),
        (AuthMode.NONE, "localhost", False, False, False),
        (AuthMode.NONE, "::1", False, False, False),
        (AuthMode.NONE, "0.0.0.0", False, False, True),
        (AuthMode.NONE, "192.168.1.5", False, False, True),
        (AuthMode.NONE, "0.0.0.0", True, False, False),
        (AuthMode.KEYS, "0.0.0.0", False, False, False),
        (AuthMode.TOKEN, "0.0.0.0", False, False, True),
        (AuthMode.TOKEN, "0.0.0.0", False, True, False),
    ],
)
def test_auth_none_starts_only_on_loopback(
    mode: AuthMode, host: str, insecure: bool, token: bool, refused: bool
) -> None:
    """HOST=0.0.0.0 with AUTH_MODE=none refuses to start unless ALLOW_INSECURE=1."""
    problem = startup_problem(mode, host, allow_insecure=insecure, has_token=token)
    assert (problem is not None) == refused


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_fifty_wrong_passwords_are_slowed_then_locked_and_the_lock_expires() -> None:
    """Free attempts, then growing waits, then a lock; after it expires the right password works."""
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    keys = ("user:alice", "addr:10.0.0.1")
    waits: list[float] = []
    for _ in range(50):
        wait = throttle.retry_after(*keys)
        if wait > 60:
            break  # locked
        waits.append(wait)
        clock.now += wait  # a patient attacker waits exactly as long as told
        throttle.failed(*keys)
    assert len(waits) == throttle.lock_after, "locked after lock_after failures, within 50 attempts"
    assert waits[:5] == [0.0] * 5
    assert 0 < waits[6] < waits[8]
    clock.now += wait / 2
    assert throttle.retry_after(*keys) > 60, "still locked halfway through"
    clock.now += wait / 2 + 1
    assert throttle.retry_after(*keys) == 0.0, "the lock expires"
    throttle.succeeded(*keys)  # the right password
    assert throttle.retry_after(*keys) == 0.0


def test_a_locked_address_does_not_lock_another_user_from_elsewhere() -> None:
    """Throttling is keyed: bob from another address is unaffected by attacks on alice."""
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(30):
        throttle.failed("user:alice", "addr:10.0.0.1")
    assert throttle.retry_after("user:alice", "addr:10.0.0.1") > 0
    assert throttle.retry_after("user:bob", "addr:10.0.0.2") == 0.0
