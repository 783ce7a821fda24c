"""Signed login tokens (JWT, HS256) for the browser and for scripts that log in with a password.

Only ``HS256`` is accepted (so ``alg: none`` and algorithm confusion are refused by PyJWT itself);
``exp``, ``iat``, ``sub``, ``tid`` and ``jti`` are required. Revocation (logout, a disabled user) is
checked in the store by ``jti``, so it reaches every process of a cluster.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt

from ..errors import AuthError

ALGORITHM = "HS256"
_REQUIRED = ["exp", "iat", "sub", "tid", "jti"]
#: leeway for clocks of a cluster's machines
LEEWAY_SECONDS = 30


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: str
    tenant: str
    token_id: str
    expires_at: float


def issue_token(
    secret: str, *, user_id: str, tenant: str, ttl_seconds: int, now: float | None = None
) -> tuple[str, TokenClaims]:
    issued = time.time() if now is None else now
    claims = TokenClaims(user_id=user_id, tenant=tenant, token_id=secrets.token_urlsafe(16),
                         expires_at=float(int(issued) + ttl_seconds))  # fmt: skip
    payload = {"sub": user_id, "tid": tenant, "jti": claims.token_id, "iat": int(issued), "exp": int(claims.expires_at)}
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def verify_token(secret: str, token: str) -> TokenClaims:
    """The claims of a valid, unexpired token signed with ``secret``; :class:`AuthError` otherwise."""
    if len(token) > 4096:
        raise AuthError("the token is too long")
    try:
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": _REQUIRED}, leeway=LEEWAY_SECONDS
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("the token has expired") from None
    except jwt.PyJWTError:
        raise AuthError("the token is not valid") from None
    if not all(isinstance(payload.get(k), str) and payload[k] for k in ("sub", "tid", "jti")):
        raise AuthError("the token is not valid")
    return TokenClaims(user_id=payload["sub"], tenant=payload["tid"], token_id=payload["jti"],
                       expires_at=float(payload["exp"]))  # fmt: skip


def looks_like_jwt(value: str) -> bool:
    return value.count(".") == 2 and value.startswith("eyJ")
