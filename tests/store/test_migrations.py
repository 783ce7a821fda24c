"""Numbered migrations: applied once, recorded, and an old database is upgraded in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from backend.store import Store
from backend.store.migrations import MIGRATIONS, m001_initial


def test_fresh_database_gets_every_migration(tmp_path: Path) -> None:
    """A new file ends at the latest schema version, and opening it again applies nothing twice."""
    store = Store(tmp_path / "a.db")
    store.open()
    assert store.db.schema_version() == MIGRATIONS[-1][0]
    store.close()
    again = Store(tmp_path / "a.db")
    again.open()
    rows = again.db.conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]
    again.close()


def test_version_1_database_is_upgraded_keeping_its_data(tmp_path: Path) -> None:
    """A database written by the first version keeps its sessions and events after the upgrade."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    m001_initial(conn.cursor())
    conn.execute("INSERT INTO schema_migrations VALUES (1, 'initial', 0)")
    conn.execute("INSERT INTO sessions (id, title, created_at, updated_at, last_seq) VALUES ('s1', 't', 1, 2, 7)")
    conn.execute("INSERT INTO events VALUES ('s1', 7, 'response', 1.0, '{}')")
    conn.close()
    store = Store(path)
    store.open()
    row = store.sessions.get("s1")
    assert row is not None and row.title == "t" and row.last_seq == 7
    assert store.db.schema_version() == MIGRATIONS[-1][0]
    store.close()
