"""PostgreSQL behind the async interface: psycopg 3, an ``AsyncConnectionPool``, autocommit reads.

Repositories write ``?`` placeholders; they become ``%s`` here (cached per statement text).
Migrations run under a transaction-scoped advisory lock, so several processes starting at once
apply each version exactly once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from psycopg import AsyncConnection, AsyncPipeline
from psycopg_pool import AsyncConnectionPool

from .db import Dialect, Params, Row, Tx, within
from .migrations import MIGRATIONS

logger = logging.getLogger(__name__)

POSTGRES = Dialect(
    name="postgres",
    json_text_template="(({column})::jsonb ->> '{field}')",
    now="(extract(epoch from clock_timestamp())::double precision)",
    skip_locked=" FOR UPDATE SKIP LOCKED",
    for_share=" FOR SHARE",
)
MIGRATION_LOCK = 0x61676368  # pg_advisory_xact_lock key: "agch"


@functools.lru_cache(maxsize=512)
def _sql(sql: str) -> str:
    """``?`` placeholders -> psycopg's ``%s`` (a literal ``%`` is doubled first)."""
    return sql.replace("%", "%%").replace("?", "%s")


def redact(url: str) -> str:
    """The URL without its password (for logs and /healthz)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


class _PgTx:
    """A transaction in pipeline mode: ``executemany`` is queued; reading a result (``fetch*``, the
    row count of ``execute``) sends what is queued and waits for it."""

    def __init__(self, conn: AsyncConnection[Any], pipeline: AsyncPipeline) -> None:
        self.conn = conn
        self.pipeline = pipeline
        self.callbacks: list[Callable[[], Any]] = []
        self.fetched: list[tuple[asyncio.Future[Row | None], Row | None]] = []

    async def execute(self, sql: str, params: Params = ()) -> int:
        cur = await self.conn.execute(_sql(sql), params)
        await self.pipeline.sync()
        return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.conn.cursor() as cur:
            await cur.executemany(_sql(sql), list(rows))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        cur = await self.conn.execute(_sql(sql), params)
        return await cur.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        cur = await self.conn.execute(_sql(sql), params)
        return await cur.fetchall()

    async def fetchone_at_commit(self, sql: str, params: Params = ()) -> asyncio.Future[Row | None]:
        """Run now (in the pipeline, as ``fetchone``); the row is handed over once the COMMIT is done."""
        future: asyncio.Future[Row | None] = asyncio.get_running_loop().create_future()
        self.fetched.append((future, await self.fetchone(sql, params)))
        return future

    def settle(self, committed: bool) -> None:
        for future, row in self.fetched:
            if not future.done():
                if committed:
                    future.set_result(row)
                else:
                    future.cancel()

    def after_commit(self, callback: Any) -> None:
        self.callbacks.append(callback)


class PostgresDatabase:
    """A pool of connections to one PostgreSQL database."""

    dialect = POSTGRES

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10) -> None:
        self.url = url
        self.where = redact(url)
        self.pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True},
            name="agentchat",
        )
        self.checkpoint_errors = 0  # (SQLite's counter; PostgreSQL has none)

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30.0)
        await self._migrate()

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Tx]:
        async with self.pool.connection() as conn, conn.pipeline() as pipeline:
            tx = _PgTx(conn, pipeline)
            # Pipeline mode: statements whose results nobody reads (the event INSERT, pg_notify,
            # COMMIT) go out together; an event batch is two round trips, not five.
            try:
                async with conn.transaction():
                    yield tx
            except BaseException:
                tx.settle(False)
                raise
            tx.settle(True)
        for callback in tx.callbacks:
            callback()

    def transaction(self, tx: Tx | None = None) -> AbstractAsyncContextManager[Tx]:
        return within(tx, self._transaction)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(_sql(sql), params)
            return await cur.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(_sql(sql), params)
            return await cur.fetchall()

    async def schema_version(self) -> int:
        row = await self.fetchone("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        return int(row[0]) if row else 0

    def start_checkpointing(self) -> None:
        """Nothing to do: PostgreSQL checkpoints itself."""

    async def _migrate(self) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
            )
            cur = await conn.execute("SELECT version FROM schema_migrations")
            applied = {row[0] for row in await cur.fetchall()}
            for version, name, scripts in MIGRATIONS:
                if version in applied:
                    continue
                logger.info("applying migration %03d_%s (postgres)", version, name)
                await conn.execute(scripts["postgres"].encode())
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                    (version, name, time.time()),
                )
