"""Numbered migrations: applied once, recorded, and an old database is upgraded in place."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from backend.store import Store
from backend.store.migrations import MIGRATIONS
from backend.store.sqlite import run_script


async def test_fresh_database_gets_every_migration(make_store: Callable[[], Store]) -> None:
    """A new database ends at the latest schema version, and opening it again applies nothing twice."""
    store = make_store()
    await store.open()
    assert await store.db.schema_version() == MIGRATIONS[-1][0]
    await store.close()
    again = make_store()
    await again.open()
    rows = await again.db.fetchall("SELECT version FROM schema_migrations ORDER BY version")
    assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]
    await again.close()


def test_every_migration_has_both_dialects() -> None:
    """Versions are unique and increasing, and each one gives a script for SQLite and for PostgreSQL."""
    versions = [m[0] for m in MIGRATIONS]
    assert versions == sorted(set(versions))
    for _, _, scripts in MIGRATIONS:
        assert set(scripts) == {"sqlite", "postgres"}


async def test_version_1_database_is_upgraded_keeping_its_data(tmp_path: Path) -> None:
    """A SQLite database written by the first version keeps its sessions and events after the upgrade."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    run_script(conn, MIGRATIONS[0][2]["sqlite"])
    conn.execute("INSERT INTO schema_migrations VALUES (1, 'initial', 0)")
    conn.execute("INSERT INTO sessions (id, title, created_at, updated_at, last_seq) VALUES ('s1', 't', 1, 2, 7)")
    conn.execute("INSERT INTO events VALUES ('s1', 7, 'response', 1.0, '{}')")
    conn.close()
    store = Store(path)
    await store.open()
    row = await store.sessions.get("s1")
    assert row is not None and row.title == "t" and row.last_seq == 7
    assert await store.db.schema_version() == MIGRATIONS[-1][0]
    await store.close()
