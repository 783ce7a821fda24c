"""The SQLite connection: pragmas, numbered migrations, transactions, off-loop checkpoints.

All statements are short and run on the event-loop thread (a WAL commit with
``synchronous=NORMAL`` is a ``write()``, not an ``fsync``: tens of microseconds, and durable
against ``kill -9``). The only slow operation, the WAL checkpoint, runs in a worker thread on its
own connection, so a disk stall never blocks the loop.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .migrations import MIGRATIONS

logger = logging.getLogger(__name__)

CHECKPOINT_INTERVAL = 30.0


class Database:
    """One SQLite file in WAL mode. Use :meth:`transaction` for every write."""

    def __init__(self, path: Path, *, synchronous: str = "NORMAL") -> None:
        self.path = path
        self._synchronous = synchronous
        self._conn: sqlite3.Connection | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        # Checkpoints happen off the loop (see checkpoint_forever), never inside a commit.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        self._conn = conn
        self._migrate()

    def close(self) -> None:
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            self._checkpoint_task = None
        if self._conn is not None:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:  # pragma: no cover - best effort at shutdown
                logger.warning("final checkpoint failed", exc_info=True)
            self._conn.close()
            self._conn = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; rolls back on any exception."""
        conn = self.conn
        if conn.in_transaction:  # nested use joins the outer transaction
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self) -> None:
        conn = self.conn
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for version, name, migrate in MIGRATIONS:
            if version in applied:
                continue
            logger.info("applying migration %03d_%s", version, name)
            with self.transaction():
                migrate(conn.cursor())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, time.time()),
                )

    def schema_version(self) -> int:
        row = self.conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
        return int(row[0])

    # --- checkpoints off the event loop ---------------------------------------------------------
    def start_checkpointing(self, interval: float = CHECKPOINT_INTERVAL) -> None:
        if self._checkpoint_task is None:
            self._checkpoint_task = asyncio.get_running_loop().create_task(
                self._checkpoint_forever(interval), name="sqlite-checkpoint"
            )

    async def _checkpoint_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.checkpoint)
            except sqlite3.Error:
                logger.warning("WAL checkpoint failed", exc_info=True)

    def checkpoint(self) -> None:
        """Copy the WAL into the database file (PASSIVE: never waits for readers or writers)."""
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=1000")
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()
