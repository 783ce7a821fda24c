"""API keys: random, high-entropy, shown once, stored only as a SHA-256 hash.

A key looks like ``ac_<43 url-safe characters>`` (256 bits of randomness). Its first
:data:`PREFIX_LENGTH` characters are kept in clear as the key's visible prefix, so people can tell
their keys apart in listings and logs without the key itself ever being stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "ac_"
#: characters of the raw key kept visible (``ac_`` + 8)
PREFIX_LENGTH = 11
_SECRET_BYTES = 32
#: longest string treated as a key candidate; anything longer is refused before hashing
MAX_KEY_LENGTH = 128


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly minted key: ``raw`` is shown once, only ``digest`` and ``prefix`` are stored."""

    raw: str
    prefix: str
    digest: str


def mint_key() -> NewKey:
    raw = KEY_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
    return NewKey(raw=raw, prefix=raw[:PREFIX_LENGTH], digest=key_digest(raw))


def key_digest(raw: str) -> str:
    """SHA-256 of the key (hex). A key has 256 bits of entropy, so a fast hash is the norm here."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def looks_like_key(value: str) -> bool:
    """Cheap shape check before any lookup: our prefix, a sane length, URL-safe characters."""
    if not value.startswith(KEY_PREFIX) or not PREFIX_LENGTH < len(value) <= MAX_KEY_LENGTH:
        return False
    return all(c.isascii() and (c.isalnum() or c in "-_") for c in value[len(KEY_PREFIX) :])


def digests_match(raw: str, digest: str) -> bool:
    """Constant-time comparison of a presented key with a stored digest."""
    return hmac.compare_digest(key_digest(raw), digest)
