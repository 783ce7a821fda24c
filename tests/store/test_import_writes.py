"""The writes an import makes in one transaction (both engines): all of them or none."""

from __future__ import annotations

import pytest

from backend.store import Store


async def test_session_events_and_todos_commit_together(store: Store) -> None:
    """create(tx=), events.append(tx=), todos.add(tx=, status=): visible together after the commit."""
    async with store.db.transaction() as tx:
        await store.sessions.create("imp", title="t", timezone="Asia/Shanghai", tx=tx)
        await store.events.append([("imp", 1, "user_message", 1.5, '{"type":"user_message"}')], tx=tx)
        await store.todos.add("imp", "done one", status="done", now=10.0, updated_at=20.0, tx=tx)
    row = await store.sessions.get("imp")
    assert row is not None and row.last_seq == 1 and row.timezone == "Asia/Shanghai"
    [todo] = await store.todos.list("imp")
    assert (todo.status, todo.created_at, todo.updated_at) == ("done", 10.0, 20.0)


async def test_a_failure_midway_leaves_nothing(store: Store) -> None:
    """An error after the session row and events were written rolls every one of them back."""
    with pytest.raises(RuntimeError):
        async with store.db.transaction() as tx:
            await store.sessions.create("imp", tx=tx)
            await store.events.append([("imp", 1, "user_message", 1.5, "{}")], tx=tx)
            await store.todos.add("imp", "x", tx=tx)
            raise RuntimeError("the note could not be written")
    assert await store.sessions.get("imp") is None
    assert await store.events.after("imp", 0) == [] and await store.todos.list("imp") == []
