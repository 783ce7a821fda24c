"""SQLite behind the async interface: one writer thread, one reader thread, WAL mode.

No statement runs on the event loop. Every write goes to one connection owned by a dedicated
thread (SQLite has one writer anyway; an ``asyncio.Lock`` queues transactions in order); reads go
to a second connection on its own thread and see every committed transaction (WAL). A WAL commit
with ``synchronous=NORMAL`` is a ``write()``, not an ``fsync``; the WAL checkpoint (the one slow
operation) runs on a third short-lived connection in a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from .db import Dialect, Params, Row, Tx, within
from .migrations import MIGRATIONS

logger = logging.getLogger(__name__)

CHECKPOINT_INTERVAL = 30.0
SQLITE = Dialect(
    name="sqlite",
    json_text_template="json_extract({column}, '$.{field}')",
    now="((julianday('now') - 2440587.5) * 86400.0)",
    skip_locked="",
    for_share="",
)

T = TypeVar("T")


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run several statements inside the caller's transaction (``executescript`` would COMMIT)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            conn.execute(buffer)
            buffer = ""
    if any(part.strip() and not part.strip().startswith("--") for part in buffer.splitlines()):
        raise ValueError(f"incomplete SQL statement in migration: {buffer.strip()[:80]}")


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    # Checkpoints happen in checkpoint() on their own connection, never inside a commit.
    conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


class _Thread:
    """One connection and the one thread allowed to use it."""

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.conn: sqlite3.Connection | None = None

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self.conn
        if conn is None:
            raise RuntimeError("database is not open")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, conn)

    async def call(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def _fetchone(sql: str, params: Params, conn: sqlite3.Connection) -> Row | None:
    row = conn.execute(sql, params).fetchone()
    return None if row is None else tuple(row)


def _fetchall(sql: str, params: Params, conn: sqlite3.Connection) -> list[Row]:
    return [tuple(row) for row in conn.execute(sql, params).fetchall()]


class _SqliteTx:
    """A transaction on the writer connection, with as few thread hops as possible.

    ``BEGIN IMMEDIATE`` rides on the first statement, and ``executemany`` (which returns nothing)
    is deferred to the next statement or to the commit: an event batch is one hop to the writer
    thread (BEGIN, INSERT ..., COMMIT), not three.
    """

    def __init__(self, thread: _Thread) -> None:
        self._thread = thread
        self.begun = False
        #: (sql, rows, future): executemany when future is None, else one fetchone for the future
        self.deferred: list[tuple[str, list[Params], asyncio.Future[Row | None] | None]] = []
        self.fetched: list[tuple[asyncio.Future[Row | None], Row | None]] = []  # filled in the writer thread
        self.futures: list[asyncio.Future[Row | None]] = []
        self.callbacks: list[Callable[[], Any]] = []

    def _begin(self, conn: sqlite3.Connection) -> None:
        if not self.begun:
            conn.execute("BEGIN IMMEDIATE")
            self.begun = True
        deferred, self.deferred = self.deferred, []
        for sql, rows, future in deferred:
            if future is None:
                conn.executemany(sql, rows)
            else:
                self.fetched.append((future, _fetchone(sql, rows[0], conn)))

    def settle(self, committed: bool) -> None:
        """On the loop, after COMMIT (or its failure): resolve (or cancel) the deferred fetches."""
        rows = {id(future): row for future, row in self.fetched}
        for future in self.futures:
            if not future.done():
                if committed and id(future) in rows:
                    future.set_result(rows[id(future)])
                else:
                    future.cancel()

    def finish(self, conn: sqlite3.Connection) -> None:
        """Run what is deferred and COMMIT (in the writer thread); ROLLBACK if that fails."""
        if not self.begun and not self.deferred:
            return
        try:
            self._begin(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def execute(self, sql: str, params: Params = ()) -> int:
        def run(conn: sqlite3.Connection) -> int:
            self._begin(conn)
            return conn.execute(sql, params).rowcount

        return await self._thread.run(run)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self.deferred.append((sql, list(rows), None))

    async def fetchone_at_commit(self, sql: str, params: Params = ()) -> asyncio.Future[Row | None]:
        """Deferred like ``executemany``: runs with the next statement or the COMMIT, no trip of its own."""
        future: asyncio.Future[Row | None] = asyncio.get_running_loop().create_future()
        self.deferred.append((sql, [params], future))
        self.futures.append(future)
        return future

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        def run(conn: sqlite3.Connection) -> Row | None:
            self._begin(conn)
            return _fetchone(sql, params, conn)

        return await self._thread.run(run)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        def run(conn: sqlite3.Connection) -> list[Row]:
            self._begin(conn)
            return _fetchall(sql, params, conn)

        return await self._thread.run(run)

    def after_commit(self, callback: Any) -> None:
        self.callbacks.append(callback)


class SqliteDatabase:
    """One SQLite file in WAL mode."""

    dialect = SQLITE

    def __init__(self, path: Path, *, synchronous: str = "NORMAL") -> None:
        self.path = path
        self.where = str(path)
        self._synchronous = synchronous
        self._writer = _Thread("sqlite-writer")
        self._reader = _Thread("sqlite-reader")
        self._write_lock = asyncio.Lock()
        self._checkpoint_task: asyncio.Task[None] | None = None
        #: Failed WAL checkpoints (visible in /healthz).
        self.checkpoint_errors = 0

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connect = functools.partial(_connect, self.path, self._synchronous)
        self._writer.conn = await self._writer.call(connect)
        await self._writer.run(_migrate)
        self._reader.conn = await self._reader.call(connect)

    async def close(self) -> None:
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            self._checkpoint_task = None
        for thread in (self._reader, self._writer):
            conn, thread.conn = thread.conn, None
            if conn is not None:
                await thread.call(functools.partial(_close, conn, final=thread is self._writer))
            thread.shutdown()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Tx]:
        async with self._write_lock:
            tx = _SqliteTx(self._writer)
            try:
                yield tx
            except BaseException:
                tx.settle(False)
                if tx.begun:
                    await asyncio.shield(self._writer.run(lambda conn: conn.execute("ROLLBACK")))
                raise
            try:
                await asyncio.shield(self._writer.run(tx.finish))
            except BaseException:
                tx.settle(False)
                raise
            tx.settle(True)
        for callback in tx.callbacks:
            callback()

    def transaction(self, tx: Tx | None = None) -> AbstractAsyncContextManager[Tx]:
        return within(tx, self._transaction)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return await self._reader.run(functools.partial(_fetchone, sql, params))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._reader.run(functools.partial(_fetchall, sql, params))

    async def schema_version(self) -> int:
        row = await self.fetchone("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        return int(row[0]) if row else 0

    # --- checkpoints -------------------------------------------------------------------------------
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
                self.checkpoint_errors += 1
                logger.warning("WAL checkpoint failed", exc_info=True)

    def checkpoint(self) -> None:
        """Copy the WAL into the database file (PASSIVE: never waits for readers or writers)."""
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=1000")
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()


def _close(conn: sqlite3.Connection, *, final: bool) -> None:
    if final:
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:  # best effort at shutdown
            logger.warning("final checkpoint failed", exc_info=True)
    conn.close()


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    for version, name, scripts in MIGRATIONS:
        if version in applied:
            continue
        logger.info("applying migration %03d_%s", version, name)
        conn.execute("BEGIN IMMEDIATE")
        try:
            run_script(conn, scripts["sqlite"])
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, time.time()),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
