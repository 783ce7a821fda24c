"""API keys, users and revoked login tokens. Only hashes are stored: a key's SHA-256 digest, a
password's argon2id hash; the rules (who may do what) live in ``backend/identity``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .db import Database, Row, Tx

KEY_STATUSES = ("active", "disabled", "revoked")
_KEY_COLUMNS = "id, tenant, user_id, name, prefix, scopes, status, expires_at, last_used_at, created_at, digest"
_USER_COLUMNS = "id, tenant, name, password_hash, admin, status, created_at"


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: str
    tenant: str
    user_id: str | None
    name: str
    prefix: str
    scopes: tuple[str, ...]
    status: str
    expires_at: float | None
    last_used_at: float | None
    created_at: float
    digest: str

    def to_dict(self) -> dict[str, Any]:
        """What listings show: never the key, never its digest."""
        return {
            "id": self.id,
            "tenant": self.tenant,
            "user_id": self.user_id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": list(self.scopes),
            "status": self.status,
            "expires_at": self.expires_at,
            "last_used_at": self.last_used_at,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class UserRow:
    id: str
    tenant: str
    name: str
    password_hash: str
    admin: bool
    status: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "tenant": self.tenant, "name": self.name, "admin": self.admin,
                "status": self.status, "created_at": self.created_at}  # fmt: skip


def _key(r: Row) -> KeyRow:
    return KeyRow(str(r[0]), str(r[1]), r[2], str(r[3]), str(r[4]), tuple(str(r[5]).split()), str(r[6]),
                  None if r[7] is None else float(r[7]), None if r[8] is None else float(r[8]), float(r[9]),
                  str(r[10]))  # fmt: skip


def _user(r: Row) -> UserRow:
    return UserRow(str(r[0]), str(r[1]), str(r[2]), str(r[3]), bool(r[4]), str(r[5]), float(r[6]))


class KeyRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, row: KeyRow, *, only_if_none: bool = False, tx: Tx | None = None) -> bool:
        """Store a new key. With ``only_if_none``, only when no key exists yet (the bootstrap);
        returns whether it was stored."""
        async with self._db.transaction(tx) as t:
            if only_if_none and await t.fetchone("SELECT 1 FROM api_keys LIMIT 1") is not None:
                return False
            changed = await t.execute(
                f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                (row.id, row.tenant, row.user_id, row.name, row.prefix, " ".join(row.scopes), row.status,
                 row.expires_at, row.last_used_at, row.created_at, row.digest),
            )  # fmt: skip
        return changed > 0

    async def by_digest(self, digest: str) -> KeyRow | None:
        row = await self._db.fetchone(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE digest = ?", (digest,))  # noqa: S608
        return _key(row) if row else None

    async def get(self, key_id: str) -> KeyRow | None:
        row = await self._db.fetchone(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,))  # noqa: S608
        return _key(row) if row else None

    async def list(self, tenant: str | None = None, limit: int = 500) -> list[KeyRow]:
        """A tenant's keys (every tenant's with None), oldest first."""
        where, params = ("WHERE tenant = ? ", (tenant, limit)) if tenant is not None else ("", (limit,))
        rows = await self._db.fetchall(
            f"SELECT {_KEY_COLUMNS} FROM api_keys {where}ORDER BY created_at, id LIMIT ?",  # noqa: S608
            params,
        )
        return [_key(r) for r in rows]

    async def count(self) -> int:
        row = await self._db.fetchone("SELECT COUNT(*) FROM api_keys")
        return int(row[0]) if row else 0

    async def set_status(self, key_id: str, status: str) -> bool:
        """Change a key's status; a revoked key stays revoked (returns False then)."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE api_keys SET status = ? WHERE id = ? AND status <> 'revoked'", (status, key_id)
            )
        return changed > 0

    async def touch(self, key_id: str, when: float | None = None) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (when or time.time(), key_id))


class UserRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, row: UserRow) -> bool:
        """Store a new user; False when the name is taken."""
        if await self.by_name(row.name) is not None:
            return False
        async with self._db.transaction() as tx:
            await tx.execute(
                f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                (row.id, row.tenant, row.name, row.password_hash, int(row.admin), row.status, row.created_at),
            )
        return True

    async def by_name(self, name: str) -> UserRow | None:
        row = await self._db.fetchone(f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (name,))  # noqa: S608
        return _user(row) if row else None

    async def get(self, user_id: str) -> UserRow | None:
        row = await self._db.fetchone(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,))  # noqa: S608
        return _user(row) if row else None

    async def list(self, tenant: str | None = None) -> list[UserRow]:
        where, params = ("WHERE tenant = ? ", (tenant,)) if tenant is not None else ("", ())
        rows = await self._db.fetchall(f"SELECT {_USER_COLUMNS} FROM users {where}ORDER BY created_at", params)  # noqa: S608
        return [_user(r) for r in rows]

    async def set_password(self, user_id: str, password_hash: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))

    async def set_status(self, user_id: str, status: str) -> bool:
        async with self._db.transaction() as tx:
            return await tx.execute("UPDATE users SET status = ? WHERE id = ?", (status, user_id)) > 0


class RevokedTokenRepo:
    """Login tokens ended before their expiry (logout), by id; rows past expiry are pruned."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def revoke(self, token_id: str, expires_at: float) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM revoked_tokens WHERE expires_at < ?", (time.time() - 3600,))
            if await tx.fetchone("SELECT 1 FROM revoked_tokens WHERE jti = ?", (token_id,)) is None:
                await tx.execute("INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?)", (token_id, expires_at))

    async def is_revoked(self, token_id: str) -> bool:
        return await self._db.fetchone("SELECT 1 FROM revoked_tokens WHERE jti = ?", (token_id,)) is not None
