"""ReminderRepo: CRUD, due queries across sessions, conditional fire recording, scoping."""

from __future__ import annotations

from backend.store import ReminderRow, Store


async def test_add_and_get_round_trip(store: Store) -> None:
    """An added reminder is scheduled, has fire_count 0 and comes back identical."""
    row = await store.reminders.add("s1", "stand-up", 1_000.0, timezone="Asia/Shanghai", repeat="daily", now=10.0)
    assert await store.reminders.get("s1", row.id) == row
    assert (row.status, row.fire_count, row.fired_at, row.created_at) == ("scheduled", 0, None, 10.0)
    assert row.key == (row.id, 0)
    assert row.dedup_key == f"{row.id}:0"


async def test_to_dict_has_iso_due_in_the_reminders_zone(store: Store) -> None:
    """to_dict() carries an ISO 'due' in the reminder's own zone plus the raw epoch."""
    due_at = 1_795_309_200.0  # 2026-11-22T01:00:00Z
    row = await store.reminders.add("s1", "m", due_at, timezone="Asia/Shanghai")
    data = row.to_dict()
    assert data["due"] == "2026-11-22T09:00:00+08:00"
    assert data["due_at"] == due_at
    assert set(data) == {
        "id",
        "message",
        "due",
        "due_at",
        "timezone",
        "repeat",
        "status",
        "fire_count",
        "created_at",
        "fired_at",
    }
    unknown = ReminderRow(1, "s1", "m", due_at, None, None, "scheduled", 0, 0.0, None)
    assert unknown.due == "2026-11-22T01:00:00+00:00"


async def test_list_orders_by_due_and_filters_status(store: Store) -> None:
    """list() returns scheduled reminders in due order by default; status=None returns all."""
    late = await store.reminders.add("s1", "late", 300.0)
    early = await store.reminders.add("s1", "early", 100.0)
    mid = await store.reminders.add("s1", "mid", 200.0)
    await store.reminders.cancel("s1", mid.id)
    assert [r.id for r in await store.reminders.list("s1")] == [early.id, late.id]
    assert [r.id for r in await store.reminders.list("s1", status=None)] == [early.id, mid.id, late.id]
    assert [r.id for r in await store.reminders.list("s1", status="cancelled")] == [mid.id]
    assert [r.id for r in await store.reminders.list("s1", limit=1)] == [early.id]
    assert await store.reminders.count("s1") == 2


async def test_cancel_only_scheduled(store: Store) -> None:
    """cancel() flips a scheduled reminder to cancelled once; later calls return None."""
    row = await store.reminders.add("s1", "m", 100.0)
    cancelled = await store.reminders.cancel("s1", row.id)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert await store.reminders.cancel("s1", row.id) is None
    assert await store.reminders.cancel("s1", 999) is None


async def test_next_due_and_due_span_all_sessions(store: Store) -> None:
    """next_due_at()/due() look at every session's scheduled reminders, earliest first."""
    assert await store.reminders.next_due_at() is None
    a = await store.reminders.add("s1", "a", 200.0)
    b = await store.reminders.add("s2", "b", 100.0)
    c = await store.reminders.add("s2", "c", 500.0)
    assert await store.reminders.next_due_at() == 100.0
    assert [r.id for r in await store.reminders.due(250.0)] == [b.id, a.id]
    assert [r.id for r in await store.reminders.due(250.0, limit=1)] == [b.id]
    await store.reminders.cancel("s2", b.id)
    assert await store.reminders.next_due_at() == 200.0
    assert [r.id for r in await store.reminders.due(1_000.0)] == [a.id, c.id]


async def test_record_fire_one_shot(store: Store) -> None:
    """record_fire() without a next time marks a one-shot fired, once."""
    row = await store.reminders.add("s1", "m", 100.0)
    assert await store.reminders.record_fire(row, fired_at=101.0, next_due_at=None)
    fired = await store.reminders.get("s1", row.id)
    assert fired is not None
    assert (fired.status, fired.fire_count, fired.fired_at, fired.due_at) == ("fired", 1, 101.0, 100.0)
    assert not await store.reminders.record_fire(row, fired_at=102.0, next_due_at=None)  # stale key: no-op
    assert await store.reminders.due(1_000.0) == []


async def test_record_fire_repeating_advances(store: Store) -> None:
    """record_fire() with a next time keeps it scheduled at that time and bumps fire_count."""
    row = await store.reminders.add("s1", "m", 100.0, repeat="hourly")
    assert await store.reminders.record_fire(row, fired_at=101.0, next_due_at=3_700.0)
    again = await store.reminders.get("s1", row.id)
    assert again is not None
    assert (again.status, again.fire_count, again.due_at, again.key) == ("scheduled", 1, 3_700.0, (row.id, 1))
    assert not await store.reminders.record_fire(row, fired_at=102.0, next_due_at=7_300.0)  # old occurrence
    assert await store.reminders.get("s1", row.id) == again


async def test_record_fire_leaves_cancelled_alone(store: Store) -> None:
    """A reminder cancelled during its delivery stays cancelled."""
    row = await store.reminders.add("s1", "m", 100.0, repeat="daily")
    await store.reminders.cancel("s1", row.id)
    assert not await store.reminders.record_fire(row, fired_at=101.0, next_due_at=90_000.0)
    after = await store.reminders.get("s1", row.id)
    assert after is not None and after.status == "cancelled" and after.fire_count == 0


async def test_sessions_cannot_see_or_cancel_each_others_reminders(store: Store) -> None:
    """Per-session methods are scoped by session id."""
    mine = await store.reminders.add("s1", "mine", 100.0)
    assert await store.reminders.get("s2", mine.id) is None
    assert await store.reminders.list("s2", status=None) == []
    assert await store.reminders.count("s2") == 0
    assert await store.reminders.cancel("s2", mine.id) is None
    assert await store.reminders.get("s1", mine.id) == mine
