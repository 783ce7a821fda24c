"""Accounts: API keys, users, login tokens and the audit log, over the store.

The server's faces call this service (never the store): it mints and checks credentials with the
pure rules of ``backend.identity`` and turns a presented credential into a :class:`Principal`.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..errors import AgentChatError, AuthError, ForbiddenError
from ..identity.credentials import key_digest, looks_like_key, mint_key
from ..identity.passwords import DUMMY_HASH, hash_password, password_problem, verify_password
from ..identity.principal import DEFAULT_TENANT, Principal
from ..identity.throttle import LoginThrottle
from ..identity.tokens import TokenClaims, issue_token, looks_like_jwt, verify_token
from ..settings import Settings
from ..store import AuditRow, KeyRow, Store, UserRow

logger = logging.getLogger(__name__)

#: ``last_used_at`` is written at most this often per key (a write per request would be wasteful)
TOUCH_INTERVAL = 60.0
SECRET_FILE = "auth_secret"  # noqa: S105 - a file name
MAX_NAME = 100
#: seconds between deletions of audit rows older than AUDIT_RETENTION_DAYS
PRUNE_INTERVAL = 3600.0
SETTABLE_STATUSES = ("active", "disabled", "revoked")


class LoginThrottledError(AgentChatError):
    """Too many failed sign-ins for this user or address (HTTP 429 with Retry-After)."""

    code = "too_many_requests"

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many failed sign-ins; try again later")
        self.retry_after = retry_after


def _check_name(kind: str, value: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_NAME or not value.isprintable():
        raise AgentChatError(f"{kind} must be 1-{MAX_NAME} printable characters", code="bad_request")
    return value


def load_secret(settings: Settings) -> str:
    """AUTH_SECRET, or the data dir's secret file (created once, mode 0600)."""
    if settings.auth_secret:
        return settings.auth_secret
    path = Path(settings.data_dir) / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


class Accounts:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._secret: str | None = None
        self.logins = LoginThrottle()
        self.audit_errors = 0
        self._pruned = -PRUNE_INTERVAL

    @property
    def secret(self) -> str:
        if self._secret is None:
            self._secret = load_secret(self.settings)
        return self._secret

    # --- API keys -----------------------------------------------------------------------------------
    async def create_key(
        self,
        name: str,
        *,
        tenant: str = DEFAULT_TENANT,
        admin: bool = False,
        user_id: str | None = None,
        expires_at: float | None = None,
        bootstrap: bool = False,
    ) -> tuple[str, KeyRow] | None:
        """A new key: (the raw key, shown once; its row). With ``bootstrap``, None unless it is the first."""
        new = mint_key()
        row = KeyRow(id="key_" + uuid.uuid4().hex[:16], tenant=_check_name("tenant", tenant), user_id=user_id,
                     name=_check_name("name", name), prefix=new.prefix,
                     scopes=("chat", "admin") if admin else ("chat",), status="active", expires_at=expires_at,
                     last_used_at=None, created_at=time.time(), digest=new.digest)  # fmt: skip
        if not await self.store.keys.add(row, only_if_none=bootstrap):
            return None
        return new.raw, row

    async def any_key(self) -> bool:
        return await self.store.keys.count() > 0

    async def list_keys(self, tenant: str | None) -> list[KeyRow]:
        return await self.store.keys.list(tenant)

    async def set_key_status(self, key_id: str, status: str, *, tenant: str | None) -> KeyRow:
        """Change a key's status (``tenant``: only that tenant's keys; None: any). Another tenant's key
        is answered like an unknown one."""
        if status not in SETTABLE_STATUSES:
            raise AgentChatError(f"status must be one of {', '.join(SETTABLE_STATUSES)}", code="bad_request")
        row = await self.store.keys.get(key_id)
        if row is None or (tenant is not None and row.tenant != tenant):
            raise AgentChatError(f"unknown key {key_id!r}", code="unknown_key")
        if row.status == "revoked" and status != "revoked":
            raise AgentChatError("a revoked key stays revoked", code="conflict")
        await self.store.keys.set_status(key_id, status)
        updated = await self.store.keys.get(key_id)
        assert updated is not None
        return updated

    # --- users --------------------------------------------------------------------------------------
    async def create_user(
        self, name: str, password: str, *, tenant: str = DEFAULT_TENANT, admin: bool = False
    ) -> UserRow:
        problem = password_problem(password)
        if problem:
            raise AgentChatError(problem, code="bad_request")
        row = UserRow(id="usr_" + uuid.uuid4().hex[:16], tenant=_check_name("tenant", tenant),
                      name=_check_name("user name", name), password_hash=hash_password(password), admin=admin,
                      status="active", created_at=time.time())  # fmt: skip
        if not await self.store.users.add(row):
            raise AgentChatError(f"a user named {name!r} exists already", code="conflict")
        return row

    async def login(self, username: str, password: str, address: str) -> tuple[str, TokenClaims, UserRow]:
        """Check a password (throttled per user and per address); a signed token on success."""
        keys = (f"user:{username[:MAX_NAME]}", f"addr:{address}")
        wait = self.logins.retry_after(*keys)
        if wait > 0:
            raise LoginThrottledError(wait)
        user = await self.store.users.by_name(username) if len(username) <= MAX_NAME else None
        ok = verify_password(user.password_hash if user else DUMMY_HASH, password)
        if user is None or not ok or user.status != "active":
            self.logins.failed(*keys)
            raise AuthError("wrong user name or password")
        self.logins.succeeded(*keys)
        token, claims = issue_token(self.secret, user_id=user.id, tenant=user.tenant,
                                    ttl_seconds=self.settings.auth_session_seconds)  # fmt: skip
        return token, claims, user

    async def login_with_key(self, key: str, address: str) -> Principal:
        """Check an API key for a browser sign-in (throttled per address like passwords)."""
        keys = (f"addr:{address}",)
        wait = self.logins.retry_after(*keys)
        if wait > 0:
            raise LoginThrottledError(wait)
        try:
            caller = await self._key_principal(key) if looks_like_key(key) else None
        except AuthError:
            caller = None
        if caller is None:
            self.logins.failed(*keys)
            raise AuthError("this key does not work (wrong, disabled, revoked or expired)")
        self.logins.succeeded(*keys)
        return caller

    async def logout(self, token: str) -> None:
        claims = verify_token(self.secret, token)
        await self.store.revoked_tokens.revoke(claims.token_id, claims.expires_at)

    # --- who is calling ---------------------------------------------------------------------------------
    async def authenticate(self, credential: str) -> Principal:
        """The principal of an API key or a login token; :class:`AuthError` for anything else."""
        if looks_like_key(credential):
            return await self._key_principal(credential)
        if looks_like_jwt(credential):
            return await self._token_principal(credential)
        raise AuthError("missing or wrong credentials")

    async def _key_principal(self, raw: str) -> Principal:
        row = await self.store.keys.by_digest(key_digest(raw))
        if row is None:
            raise AuthError("missing or wrong credentials")
        self._check_key(row)
        now = time.time()
        if row.last_used_at is None or now - row.last_used_at > TOUCH_INTERVAL:
            await self.store.keys.touch(row.id, now)
        return Principal(tenant=row.tenant, user_id=row.user_id or row.id, scopes=frozenset(row.scopes),
                         key_id=row.id, name=row.name)  # fmt: skip

    @staticmethod
    def _check_key(row: KeyRow) -> None:
        if row.status != "active":
            raise AuthError(f"this key is {row.status}")
        if row.expires_at is not None and row.expires_at <= time.time():
            raise AuthError("this key has expired")

    async def _token_principal(self, token: str) -> Principal:
        claims = verify_token(self.secret, token)
        if await self.store.revoked_tokens.is_revoked(claims.token_id):
            raise AuthError("this token has been revoked (signed out)")
        user = await self.store.users.get(claims.user_id)
        if user is None or user.status != "active" or user.tenant != claims.tenant:
            raise AuthError("this token's user is not active")
        scopes = frozenset({"chat", "admin"} if user.admin else {"chat"})
        return Principal(tenant=user.tenant, user_id=user.id, scopes=scopes, key_id=None, name=user.name,
                         token_id=claims.token_id)  # fmt: skip

    async def still_valid(self, principal: Principal) -> bool:
        """Re-check a long-lived connection's credential (a key revoked, a token signed out)."""
        if principal.key_id is not None:
            row = await self.store.keys.get(principal.key_id)
            if row is None:
                return False
            try:
                self._check_key(row)
            except AuthError:
                return False
            return True
        if principal.token_id is not None:
            if await self.store.revoked_tokens.is_revoked(principal.token_id):
                return False
            user = await self.store.users.get(principal.user_id)
            return user is not None and user.status == "active"
        return True

    async def token_budget_wait(self, principal: Principal) -> float:
        """Seconds until ``principal`` may start another turn under CALLER_TOKENS_PER_DAY (0: now)."""
        limit = self.settings.caller_tokens_per_day
        if not limit:
            return 0.0
        now = datetime.now(UTC)
        used = await self.store.usage.tokens_on(now.date().isoformat(), tenant=principal.tenant,
                                                user_id=principal.user_id)  # fmt: skip
        if used < limit:
            return 0.0
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
        return max(1.0, (midnight - now).total_seconds())

    @staticmethod
    def require_admin(principal: Principal) -> None:
        if not principal.admin:
            raise ForbiddenError("this needs the 'admin' scope")

    # --- audit --------------------------------------------------------------------------------------
    async def audit(self, row: AuditRow) -> None:
        """Write one audit row; a failed write is logged and counted, never fails the request."""
        try:
            await self.store.audit.add([row])
            now = time.monotonic()
            if now - self._pruned > PRUNE_INTERVAL:  # retention: checked at most once an hour
                self._pruned = now
                await self.store.audit.prune(self.settings.audit_retention_days)
        except Exception:
            self.audit_errors += 1
            logger.exception("could not write an audit row (request %s)", row.request_id)

    async def audit_rows(self, **filters: object) -> list[AuditRow]:
        return await self.store.audit.query(**filters)  # type: ignore[arg-type]
