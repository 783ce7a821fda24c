"""``python -m backend keys ...`` and ``python -m backend users ...``: manage API keys and users in the
store the server uses (DATABASE_URL or DATA_DIR), with the server running or not."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
import uuid
from collections.abc import Sequence

from .errors import AgentChatError
from .identity.principal import DEFAULT_TENANT
from .sessions.accounts import Accounts
from .settings import Settings, load_settings
from .store import AuditRow, Store, open_database


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m backend", description="Manage API keys and users.")
    groups = root.add_subparsers(dest="group", required=True)
    keys = groups.add_parser("keys", help="API keys").add_subparsers(dest="command", required=True)
    create = keys.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--name", required=True)
    create.add_argument("--tenant", default=DEFAULT_TENANT)
    create.add_argument("--admin", action="store_true", help="give the key the admin scope")
    keys.add_parser("list", help="list keys (never the keys themselves)")
    for verb in ("disable", "enable", "revoke"):
        keys.add_parser(verb, help=f"{verb} a key").add_argument("id")
    users = groups.add_parser("users", help="users with passwords").add_subparsers(dest="command", required=True)
    add = users.add_parser("create", help="create a user; the password is read from stdin")
    add.add_argument("name")
    add.add_argument("--tenant", default=DEFAULT_TENANT)
    add.add_argument("--admin", action="store_true")
    users.add_parser("list", help="list users")
    return root


def _password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise AgentChatError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


async def _audit(accounts: Accounts, action: str, tenant: str | None, target: str | None) -> None:
    """Key and user changes made from the shell are audited like the HTTP ones (actor ``cli``)."""
    await accounts.audit(
        AuditRow(ts=time.time(), request_id=f"cli-{uuid.uuid4().hex[:12]}", tenant=tenant, actor="cli",
                 key_id=target, address="local", action=action, method=None, path=None, session_id=None,
                 status=0, latency_ms=0.0)
    )  # fmt: skip


async def run(args: argparse.Namespace, settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(open_database(settings.database_url, settings.db_path, synchronous=settings.db_synchronous))
    await store.open()
    try:
        accounts = Accounts(store, settings)
        if args.group == "keys":
            if args.command == "create":
                created = await accounts.create_key(args.name, tenant=args.tenant, admin=args.admin)
                assert created is not None
                raw, row = created
                await _audit(accounts, "cli.keys.create", row.tenant, row.id)
                print(f"{raw}\n(id {row.id}, tenant {row.tenant}, scopes {' '.join(row.scopes)}; shown only once)")
            elif args.command == "list":
                for row in await accounts.list_keys(None):
                    print(f"{row.id}\t{row.prefix}…\t{row.tenant}\t{row.name}\t{' '.join(row.scopes)}\t{row.status}")
            else:
                status = {"disable": "disabled", "enable": "active", "revoke": "revoked"}[args.command]
                row = await accounts.set_key_status(args.id, status, tenant=None)
                await _audit(accounts, f"cli.keys.{args.command}", row.tenant, row.id)
                print(f"{row.id}: {row.status}")
        elif args.command == "create":
            user = await accounts.create_user(args.name, _password(), tenant=args.tenant, admin=args.admin)
            await _audit(accounts, "cli.users.create", user.tenant, None)
            print(f"{user.id}: user {user.name} in tenant {user.tenant}{' (admin)' if user.admin else ''}")
        else:
            for user in await store.users.list():
                print(f"{user.id}\t{user.name}\t{user.tenant}\t{'admin' if user.admin else ''}\t{user.status}")
    finally:
        await store.close()
    return 0


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    try:
        return asyncio.run(run(args, load_settings()))
    except AgentChatError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
