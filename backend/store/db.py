"""The engine-neutral database interface every repository is written against.

Repositories write portable SQL with ``?`` placeholders; each engine (:mod:`.sqlite`,
:mod:`.postgres`) runs it asynchronously and supplies the few dialect fragments that differ
(:class:`Dialect`). Reads outside a transaction see everything committed before they start.

``async with db.transaction(tx) as t`` joins ``tx`` when one is given (a repository method called
from inside a larger transaction) and otherwise opens one: commit on success, rollback on any
exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

Params = Sequence[Any]
Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Dialect:
    """SQL fragments that differ between engines (kept tiny on purpose)."""

    name: str  # "sqlite" | "postgres"
    #: ``json_text("body", "key")``: a top-level string field of a JSON text column.
    json_text_template: str
    #: The database server's clock in epoch seconds (leases use it: one clock for every process).
    now: str
    #: Appended to a SELECT that claims rows other processes must skip ("" when one writer).
    skip_locked: str
    #: Appended to a SELECT that must hold rows unchanged until commit ("" when one writer).
    for_share: str

    def json_text(self, column: str, field: str) -> str:
        return self.json_text_template.format(column=column, field=field)


class Tx(Protocol):
    """One open transaction."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone_at_commit(self, sql: str, params: Params = ()) -> asyncio.Future[Row | None]:
        """Queue a statement whose one row the caller needs only after the commit (an ``INSERT ...
        RETURNING id``): an engine may run it with the commit instead of a trip of its own. The
        future is resolved by the time the transaction has committed (cancelled if it did not)."""
        ...

    def after_commit(self, callback: Any) -> None:
        """Run ``callback()`` once the transaction has committed (never on rollback)."""
        ...


class Database(Protocol):
    """An open engine: reads, transactions, migrations."""

    dialect: Dialect
    #: Where the data lives, for logs and /healthz (a path or a URL without its password).
    where: str
    #: Failed background upkeep runs (SQLite WAL checkpoints), for /healthz.
    checkpoint_errors: int

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def transaction(self, tx: Tx | None = None) -> AbstractAsyncContextManager[Tx]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def schema_version(self) -> int: ...

    def start_checkpointing(self) -> None:
        """Start the engine's own background upkeep, if it has any."""
        ...


@asynccontextmanager
async def _joined(tx: Tx) -> AsyncIterator[Tx]:
    yield tx


def within(tx: Tx | None, start: Callable[[], AbstractAsyncContextManager[Tx]]) -> AbstractAsyncContextManager[Tx]:
    """``transaction(tx)`` of every engine: join the caller's transaction, or ``start()`` a new one."""
    return _joined(tx) if tx is not None else start()
