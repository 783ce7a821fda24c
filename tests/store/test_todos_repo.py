"""TodoRepo: CRUD, ordering and per-session scoping on every store engine."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from backend.store import Store


async def test_add_and_get_round_trip(store: Store) -> None:
    """A added todo comes back from get() with every field and status 'open'."""
    row = await store.todos.add("s1", "Buy milk", notes="2 litres", due="2026-11-27", priority="high", now=100.0)
    got = await store.todos.get("s1", row.id)
    assert got == row
    assert (got.title, got.notes, got.due, got.priority, got.status) == (
        "Buy milk",
        "2 litres",
        "2026-11-27",
        "high",
        "open",
    )
    assert got.created_at == got.updated_at == 100.0


async def test_defaults_and_to_dict(store: Store) -> None:
    """Without options a todo is normal priority with no notes/due; to_dict has the event fields."""
    row = await store.todos.add("s1", "Call Bob", now=5.0)
    assert row.to_dict() == {
        "id": row.id,
        "title": "Call Bob",
        "notes": None,
        "due": None,
        "priority": "normal",
        "status": "open",
        "created_at": 5.0,
        "updated_at": 5.0,
    }


async def test_ids_increase(store: Store) -> None:
    """Ids are per-database integers that increase across sessions."""
    a = await store.todos.add("s1", "a")
    b = await store.todos.add("s2", "b")
    c = await store.todos.add("s1", "c")
    assert a.id < b.id < c.id


async def test_list_orders_open_first_then_by_id(store: Store) -> None:
    """list() puts open todos first, each group in creation order, and filters by status."""
    first = await store.todos.add("s1", "first")
    second = await store.todos.add("s1", "second")
    third = await store.todos.add("s1", "third")
    await store.todos.update("s1", first.id, {"status": "done"})
    assert [r.title for r in await store.todos.list("s1")] == ["second", "third", "first"]
    assert [r.id for r in await store.todos.list("s1", status="open")] == [second.id, third.id]
    assert [r.id for r in await store.todos.list("s1", status="done")] == [first.id]
    assert [r.title for r in await store.todos.list("s1", limit=2)] == ["second", "third"]


async def test_counts(store: Store) -> None:
    """counts() reports every status, zero included."""
    assert await store.todos.counts("s1") == {"open": 0, "done": 0}
    a = await store.todos.add("s1", "a")
    await store.todos.add("s1", "b")
    await store.todos.update("s1", a.id, {"status": "done"})
    assert await store.todos.counts("s1") == {"open": 1, "done": 1}


async def test_update_changes_only_given_fields(store: Store) -> None:
    """update() changes the named columns, clears with None, and bumps updated_at."""
    row = await store.todos.add("s1", "Buy milk", notes="old", due="2026-11-27", now=1.0)
    updated = await store.todos.update("s1", row.id, {"title": "Buy oat milk", "notes": None}, now=2.0)
    assert updated is not None
    assert (updated.title, updated.notes, updated.due, updated.updated_at) == ("Buy oat milk", None, "2026-11-27", 2.0)
    assert updated.created_at == 1.0


async def test_update_rejects_unknown_columns(store: Store) -> None:
    """Only the documented columns can be updated (they are interpolated into SQL)."""
    row = await store.todos.add("s1", "x")
    with pytest.raises(ValueError, match="session_id"):
        await store.todos.update("s1", row.id, {"session_id": "s2"})


async def test_update_and_delete_missing_return_none(store: Store) -> None:
    """update()/delete() of an unknown id return None instead of raising."""
    assert await store.todos.update("s1", 999, {"title": "x"}) is None
    assert await store.todos.delete("s1", 999) is None
    assert await store.todos.get("s1", 999) is None


async def test_delete_returns_the_row(store: Store) -> None:
    """delete() removes the todo and returns it as it was."""
    row = await store.todos.add("s1", "gone soon")
    assert await store.todos.delete("s1", row.id) == row
    assert await store.todos.get("s1", row.id) is None
    assert await store.todos.list("s1") == []


async def test_sessions_cannot_see_or_touch_each_others_todos(store: Store) -> None:
    """Every method is scoped by session id, even with a guessed id."""
    mine = await store.todos.add("s1", "mine")
    assert await store.todos.get("s2", mine.id) is None
    assert await store.todos.list("s2") == []
    assert await store.todos.counts("s2") == {"open": 0, "done": 0}
    assert await store.todos.update("s2", mine.id, {"title": "hacked", "status": "done"}) is None
    assert await store.todos.delete("s2", mine.id) is None
    assert await store.todos.get("s1", mine.id) == mine


async def test_session_delete_removes_its_todos(store: Store) -> None:
    """Deleting a session removes its todos (sessions.SESSION_TABLES includes todos)."""
    await store.todos.add("s1", "a")
    await store.sessions.delete("s1")
    assert await store.todos.list("s1") == []


async def test_todos_survive_reopen(make_store: Callable[[], Store]) -> None:
    """Todos persist across a close/open of the database."""
    store = make_store()
    await store.open()
    row = await store.todos.add("s1", "persist me")
    await store.close()
    again = make_store()
    await again.open()
    try:
        assert await again.todos.get("s1", row.id) == row
    finally:
        await again.close()


async def test_list_accepts_status_positionally(store: Store) -> None:
    """list(session_id, status) works positionally (the server's todo_list snapshot calls it so)."""
    await store.todos.add("s1", "a")
    assert [r.title for r in await store.todos.list("s1", "open")] == ["a"]
    assert await store.todos.list("s1", "done") == []
