"""Rows a caller needs only after the commit (the inbox id of a user message): fetched with the commit."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from backend.store import Store


class Boom(Exception):
    pass


async def test_the_id_is_known_once_the_transaction_has_committed(store: Store) -> None:
    """add_inbox_at_commit's future gives the row's id after the commit; the row is pending then."""
    async with store.db.transaction() as tx:
        first = await store.state.add_inbox_at_commit("s1", "user", "user", "hello", seq=1, tx=tx)
        second = await store.state.add_inbox_at_commit("s1", "note", "user", "a note", seq=None, tx=tx)
    ids = [await first, await second]
    pending = await store.state.pending("s1")
    assert [item.id for item in pending] == ids and ids[0] < ids[1]
    assert [(item.kind, item.content, item.seq) for item in pending] == [("user", "hello", 1), ("note", "a note", None)]


async def test_a_rolled_back_transaction_cancels_the_future_and_stores_nothing(store: Store) -> None:
    """If the transaction fails, the id future is cancelled (never a made-up id) and no row exists."""
    futures: list[asyncio.Future[int]] = []
    with pytest.raises(Boom):
        async with store.db.transaction() as tx:
            futures.append(await store.state.add_inbox_at_commit("s1", "user", "user", "lost", seq=1, tx=tx))
            raise Boom
    with pytest.raises(asyncio.CancelledError):
        await futures[0]
    assert await store.state.pending("s1") == []


async def test_deferred_statements_keep_their_order_with_immediate_ones(store: Store) -> None:
    """A deferred fetch runs before a later immediate statement of the same transaction sees its row."""
    async with store.db.transaction() as tx:
        queued = await store.state.add_inbox_at_commit("s1", "user", "user", "first", seq=1, tx=tx)
        row = await tx.fetchone("SELECT COUNT(*) FROM inbox WHERE session_id = ?", ("s1",))
    assert row is not None and int(row[0]) == 1
    assert await queued > 0


@pytest.mark.parametrize("store_engine", ["sqlite"])  # the writer thread is SQLite's (PostgreSQL pipelines)
async def test_on_sqlite_the_message_transaction_is_one_trip_to_the_writer(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user message's inbox row and its session touch ride with the COMMIT: one writer-thread trip."""
    writer: Any = store.db._writer  # type: ignore[attr-defined]
    trips: list[object] = []
    run = writer.run

    async def counted(fn: Any) -> Any:
        trips.append(fn)
        return await run(fn)

    monkeypatch.setattr(writer, "run", counted)
    async with store.db.transaction() as tx:
        await store.events.append([("s1", 1, "user_message", 1.0, "{}")], tx=tx)
        inbox_id = await store.state.add_inbox_at_commit("s1", "user", "user", "hi", seq=1, tx=tx)
    assert len(trips) == 1
    assert await inbox_id > 0
