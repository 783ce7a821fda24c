"""API keys, passwords and login tokens: the pure parts of authentication."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from backend.errors import AuthError
from backend.identity.credentials import PREFIX_LENGTH, digests_match, key_digest, looks_like_key, mint_key
from backend.identity.passwords import DUMMY_HASH, hash_password, password_problem, verify_password
from backend.identity.tokens import issue_token, looks_like_jwt, verify_token

SECRET = "s" * 48


def test_minted_keys_are_unique_prefixed_and_stored_only_as_a_digest() -> None:
    """A key has our prefix, 256 bits of randomness, and a visible prefix that is not the key."""
    keys = [mint_key() for _ in range(50)]
    assert len({k.raw for k in keys}) == 50
    for key in keys:
        assert key.raw.startswith("ac_") and len(key.raw) >= 40
        assert key.prefix == key.raw[:PREFIX_LENGTH] and key.prefix != key.raw
        assert key.digest == key_digest(key.raw) and key.raw not in key.digest
        assert looks_like_key(key.raw)
        assert digests_match(key.raw, key.digest)
        assert not digests_match(key.raw + "x", key.digest)


@pytest.mark.parametrize("value", ["", "ac_", "sk-abc", "ac_" + "a" * 200, "ac_abc def ghi jkl", "ac_ünïcödé_keyyyy"])
def test_what_is_not_shaped_like_a_key_is_refused_before_any_lookup(value: str) -> None:
    """Empty, foreign, oversized or odd-character strings are not key candidates."""
    assert not looks_like_key(value)


def test_passwords_hash_with_argon2id_and_verify() -> None:
    """The right password verifies, a wrong one and a broken stored hash do not."""
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batter")
    assert not verify_password("not a hash", "correct horse battery")
    assert not verify_password(DUMMY_HASH, "anything")
    assert password_problem("short") is not None
    assert password_problem("long enough") is None


def test_a_token_round_trips_with_its_claims() -> None:
    """A token issued with the secret verifies and names the user, the tenant and its id."""
    token, claims = issue_token(SECRET, user_id="u1", tenant="acme", ttl_seconds=600)
    assert looks_like_jwt(token)
    assert verify_token(SECRET, token) == claims


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_forged_expired_and_unsigned_tokens_are_refused() -> None:
    """Another secret, an expired token, alg none and missing claims all fail with AuthError."""
    token, _ = issue_token("another secret of enough length!!", user_id="u1", tenant="acme", ttl_seconds=600)
    with pytest.raises(AuthError):
        verify_token(SECRET, token)
    expired, _ = issue_token(SECRET, user_id="u1", tenant="acme", ttl_seconds=60, now=time.time() - 3600)
    with pytest.raises(AuthError, match="expired"):
        verify_token(SECRET, expired)
    now = int(time.time())
    claims = {"sub": "u1", "tid": "acme", "jti": "x", "iat": now, "exp": now + 600}
    unsigned = _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims) + "."
    with pytest.raises(AuthError):
        verify_token(SECRET, unsigned)
    no_tenant = jwt.encode({k: v for k, v in claims.items() if k != "tid"}, SECRET, algorithm="HS256")
    with pytest.raises(AuthError):
        verify_token(SECRET, no_tenant)
    with pytest.raises(AuthError):
        verify_token(SECRET, "x" * 5000)
