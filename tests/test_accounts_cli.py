"""``python -m backend keys|users``: manage keys and users in the server's store from the shell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {"DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def test_keys_create_list_disable_enable_revoke(tmp_path: Path) -> None:
    """keys create prints the key once; list never shows it; disable/enable/revoke change the status."""
    made = cli(tmp_path, "keys", "create", "--name", "ops", "--tenant", "acme", "--admin")
    assert made.returncode == 0, made.stderr
    key = made.stdout.split()[0]
    key_id = made.stdout.split("(id ")[1].split(",")[0]
    assert key.startswith("ac_")
    listing = cli(tmp_path, "keys", "list")
    assert key_id in listing.stdout and "acme" in listing.stdout and key not in listing.stdout
    assert "disabled" in cli(tmp_path, "keys", "disable", key_id).stdout
    assert "active" in cli(tmp_path, "keys", "enable", key_id).stdout
    assert "revoked" in cli(tmp_path, "keys", "revoke", key_id).stdout
    again = cli(tmp_path, "keys", "enable", key_id)
    assert again.returncode == 1 and "revoked" in again.stderr


def test_users_create_reads_the_password_from_stdin(tmp_path: Path) -> None:
    """users create takes the password from stdin, refuses a short one and a duplicate name."""
    made = cli(tmp_path, "users", "create", "ada", "--tenant", "acme", "--admin", stdin="correct horse battery\n")
    assert made.returncode == 0, made.stderr
    assert "ada" in made.stdout and "acme" in made.stdout
    assert cli(tmp_path, "users", "create", "bob", stdin="short\n").returncode == 1
    assert cli(tmp_path, "users", "create", "ada", stdin="another long one\n").returncode == 1
    assert "ada" in cli(tmp_path, "users", "list").stdout


async def test_cli_changes_are_audited_without_secrets(tmp_path: Path) -> None:
    """Key and user changes made from the shell leave audit rows (actor cli), never the key itself."""
    from backend.settings import Settings
    from backend.store import Store, open_database

    made = cli(tmp_path, "keys", "create", "--name", "ops", "--admin")
    key = made.stdout.split()[0]
    key_id = made.stdout.split("(id ")[1].split(",")[0]
    assert cli(tmp_path, "keys", "revoke", key_id).returncode == 0
    assert cli(tmp_path, "users", "create", "ada", stdin="correct horse battery\n").returncode == 0
    settings = Settings.from_env({"DATA_DIR": str(tmp_path / "data")})
    store = Store(open_database(None, settings.db_path))
    await store.open()
    try:
        rows = await store.audit.query(tenant=None)  # every tenant
    finally:
        await store.close()
    actions = sorted((r.action, r.actor, r.key_id) for r in rows)
    assert actions == [
        ("cli.keys.create", "cli", key_id),
        ("cli.keys.revoke", "cli", key_id),
        ("cli.users.create", "cli", None),
    ]
    assert all(key not in str(r.to_dict()) for r in rows)
