"""The authenticated caller, and the pure rules of what it may see and do."""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field

from ..errors import ForbiddenError

DEFAULT_TENANT = "public"
SCOPES = frozenset({"chat", "admin"})


class AuthMode(enum.StrEnum):
    NONE = "none"
    TOKEN = "token"  # noqa: S105 (a mode name, not a secret)
    KEYS = "keys"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as. ``user_id`` names the owner of what it creates (a key's own id when
    the key belongs to no user)."""

    tenant: str
    user_id: str
    scopes: frozenset[str] = field(default_factory=lambda: frozenset({"chat"}))
    key_id: str | None = None
    name: str = ""
    #: the login token's id (``jti``) when the caller signed in with a password
    token_id: str | None = None

    @property
    def admin(self) -> bool:
        return "admin" in self.scopes

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise ForbiddenError(f"this needs the {scope!r} scope")

    def may_see(self, tenant: str, owner: str | None) -> bool:
        """A caller sees its own things; a tenant admin its tenant's; nothing crosses tenants."""
        if tenant != self.tenant:
            return False
        return self.admin or owner is None or owner == self.user_id

    def check_tenant_header(self, value: str | None) -> None:
        """``x-tenant-id``, when sent, must name the caller's own tenant."""
        if value is not None and value != self.tenant:
            raise ForbiddenError("x-tenant-id does not match the caller's tenant")


#: What a request acts as when auth is off (``AUTH_MODE=none``) or with the shared ``AUTH_TOKEN``.
ANONYMOUS = Principal(tenant=DEFAULT_TENANT, user_id="local", scopes=SCOPES, name="local")


def is_loopback_host(host: str) -> bool:
    """True for a listening address that only this machine can reach."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def startup_problem(mode: AuthMode, host: str, *, allow_insecure: bool, has_token: bool) -> str | None:
    """Why the server must not start with this auth configuration, or None."""
    if mode is AuthMode.TOKEN and not has_token:
        return "AUTH_MODE=token needs AUTH_TOKEN (at least 16 characters)"
    if mode is AuthMode.NONE and not is_loopback_host(host) and not allow_insecure:
        return (
            f"HOST={host} is reachable from other machines and AUTH_MODE=none lets anyone use the "
            "server: set AUTH_MODE=keys (then create a key: python -m backend keys create --name NAME "
            "--admin) or AUTH_MODE=token with AUTH_TOKEN, or ALLOW_INSECURE=1 if you really mean it"
        )
    return None
