"""ReminderScheduler: on-time delivery without polling, late catch-up, repeats, restarts, wake-ups."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest

from backend.scheduler import ReminderScheduler
from backend.store import ReminderRow, Store, Tx

#: Slack for "on time" with a real clock on a busy 2-core CI machine.
SLACK = 0.5


class Recorder:
    """A deliver callback that records (row, late, monotonic time) and can be awaited."""

    def __init__(self) -> None:
        self.calls: list[tuple[ReminderRow, bool, float]] = []
        self._arrived = asyncio.Event()

    async def __call__(self, row: ReminderRow, late: bool, tx: Tx) -> None:
        self.calls.append((row, late, time.monotonic()))
        self._arrived.set()

    async def until(self, count: int, timeout: float) -> None:
        """Wait until at least ``count`` deliveries were recorded."""
        async with asyncio.timeout(timeout):
            while len(self.calls) < count:
                self._arrived.clear()
                await self._arrived.wait()


async def recorded(scheduler: ReminderScheduler, count: int) -> None:
    """Let the scheduler finish recording ``count`` deliveries (deliver returns before the DB write)."""
    for _ in range(2000):  # a condition polled until a deadline (the write is a real database round trip)
        if scheduler.delivered >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"scheduler recorded {scheduler.delivered} deliveries, expected {count}")


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def schedulers() -> AsyncIterator[list[ReminderScheduler]]:
    """Schedulers appended here are stopped at the end of the test."""
    made: list[ReminderScheduler] = []
    yield made
    for scheduler in made:
        await scheduler.stop()


async def test_reminder_in_one_second_fires_on_time_without_polling(
    store: Store, schedulers: list[ReminderScheduler]
) -> None:
    """A reminder due in 1 s is delivered ~1 s later, on time (late=False); the task sleeps until then."""
    recorder = Recorder()
    scheduler = ReminderScheduler(store, recorder)
    schedulers.append(scheduler)
    row = await store.reminders.add("s1", "stretch", time.time() + 1.0)
    started = time.monotonic()
    await scheduler.start()
    await asyncio.sleep(0.5)
    assert scheduler.wakeups == 0  # idle: no polling while waiting
    await recorder.until(1, timeout=1.0 + SLACK)
    delivered, late, when = recorder.calls[0]
    assert 0.95 <= when - started <= 1.0 + SLACK
    assert (delivered.id, delivered.key, late) == (row.id, (row.id, 0), False)
    assert scheduler.wakeups <= 2  # the timed wake-up (plus at most one early-by-a-tick retry)
    await recorded(scheduler, 1)
    fired = await store.reminders.get("s1", row.id)
    assert fired is not None and (fired.status, fired.fire_count) == ("fired", 1)


async def test_cancelled_before_due_is_never_delivered(store: Store, schedulers: list[ReminderScheduler]) -> None:
    """Cancelling (and waking) before the due time means no delivery."""
    recorder = Recorder()
    scheduler = ReminderScheduler(store, recorder)
    schedulers.append(scheduler)
    await scheduler.start()
    row = await store.reminders.add("s1", "never", time.time() + 0.25)
    scheduler.wake()
    await asyncio.sleep(0.05)  # the task now sleeps until the reminder is due
    await store.reminders.cancel("s1", row.id)
    scheduler.wake()
    await asyncio.sleep(0.3)
    assert recorder.calls == []
    assert scheduler.delivered == 0


async def test_due_at_start_is_delivered_late_before_start_returns(
    store: Store, schedulers: list[ReminderScheduler]
) -> None:
    """Reminders that came due while the server was down are delivered by start(), late=True, in due order."""
    clock = FakeClock(10_000.0)
    recorder = Recorder()
    b = await store.reminders.add("s2", "b", 9_990.0)
    a = await store.reminders.add("s1", "a", 5_000.0)
    future = await store.reminders.add("s1", "later", 20_000.0)
    scheduler = ReminderScheduler(store, recorder, clock=clock)
    schedulers.append(scheduler)
    await scheduler.start()
    assert [(row.id, late) for row, late, _ in recorder.calls] == [(a.id, True), (b.id, True)]
    assert [r.id for r in await store.reminders.list("s1")] == [future.id]


async def test_recurring_reminder_advances_and_fires_once_when_late(
    store: Store, schedulers: list[ReminderScheduler]
) -> None:
    """A repeating reminder missed several times fires once (late) and moves to the next slot after now."""
    now = 100_000.0
    recorder = Recorder()
    row = await store.reminders.add("s1", "water", now - 5 * 3600 - 10, timezone="UTC", repeat="hourly")
    scheduler = ReminderScheduler(store, recorder, clock=FakeClock(now))
    schedulers.append(scheduler)
    await scheduler.start()
    assert len(recorder.calls) == 1 and recorder.calls[0][1] is True
    after = await store.reminders.get("s1", row.id)
    assert after is not None
    assert (after.status, after.fire_count, after.due_at) == ("scheduled", 1, now + 3600 - 10)
    assert after.fired_at == now


async def test_recurring_reminder_fires_again_on_its_next_slot(
    store: Store, schedulers: list[ReminderScheduler]
) -> None:
    """After advancing, the loop delivers the next occurrence with a new idempotency key."""
    clock = FakeClock(50_000.0)
    recorder = Recorder()
    row = await store.reminders.add("s1", "tick", 50_000.0, timezone="UTC", repeat="hourly")
    scheduler = ReminderScheduler(store, recorder, clock=clock)
    schedulers.append(scheduler)
    await scheduler.start()
    clock.now = 50_000.0 + 3600
    scheduler.wake()
    await recorder.until(2, timeout=1.0)
    assert [r.key for r, _, _ in recorder.calls] == [(row.id, 0), (row.id, 1)]
    assert recorder.calls[1][1] is False  # on time according to the clock


async def test_restart_does_not_redeliver_a_fired_one_shot(store: Store, schedulers: list[ReminderScheduler]) -> None:
    """A new scheduler on the same database skips what the previous one already delivered."""
    clock = FakeClock(10_000.0)
    first = Recorder()
    await store.reminders.add("s1", "once", 9_000.0)
    one = ReminderScheduler(store, first, clock=clock)
    schedulers.append(one)
    await one.start()
    await one.stop()
    second = Recorder()
    two = ReminderScheduler(store, second, clock=clock)
    schedulers.append(two)
    await two.start()
    await two.start()  # starting twice is a no-op too
    assert len(first.calls) == 1
    assert second.calls == []


async def test_crash_during_delivery_redelivers_with_the_same_key(
    store: Store, schedulers: list[ReminderScheduler]
) -> None:
    """Stopped mid-deliver (before the commit), the occurrence is delivered again on restart with the same key."""
    started = asyncio.Event()

    async def hang(row: ReminderRow, late: bool, tx: Tx) -> None:
        started.set()
        await asyncio.Event().wait()

    one = ReminderScheduler(store, hang)
    schedulers.append(one)
    await one.start()
    row = await store.reminders.add("s1", "important", time.time() + 0.05)
    one.wake()
    await asyncio.wait_for(started.wait(), 1.0)
    await one.stop()  # the "crash": deliver never returned, nothing was recorded
    recorder = Recorder()
    two = ReminderScheduler(store, recorder)
    schedulers.append(two)
    await two.start()
    assert [(r.key, late) for r, late, _ in recorder.calls] == [((row.id, 0), True)]
    again = await store.reminders.get("s1", row.id)
    assert again is not None and again.status == "fired"


async def test_failing_delivery_is_logged_and_not_retried(
    store: Store, schedulers: list[ReminderScheduler], caplog: pytest.LogCaptureFixture
) -> None:
    """If deliver raises, the error is logged and the occurrence is still recorded (no retry loop)."""
    calls: list[int] = []

    async def broken(row: ReminderRow, late: bool, tx: Tx) -> None:
        calls.append(row.id)
        raise RuntimeError("socket gone")

    row = await store.reminders.add("s1", "x", 1_000.0)
    scheduler = ReminderScheduler(store, broken, clock=FakeClock(2_000.0))
    schedulers.append(scheduler)
    with caplog.at_level(logging.ERROR, logger="backend.scheduler"):
        await scheduler.start()
        await asyncio.sleep(0.05)
    assert calls == [row.id]
    assert "delivering reminder" in caplog.text and "socket gone" in caplog.text
    fired = await store.reminders.get("s1", row.id)
    assert fired is not None and fired.status == "fired"


async def test_hanging_delivery_times_out_and_is_recorded(store: Store, schedulers: list[ReminderScheduler]) -> None:
    """A deliver that exceeds deliver_timeout does not wedge the scheduler."""

    async def slow(row: ReminderRow, late: bool, tx: Tx) -> None:
        await asyncio.sleep(10)

    await store.reminders.add("s1", "slow", 1_000.0)
    quick = await store.reminders.add("s1", "quick", 1_001.0)
    scheduler = ReminderScheduler(store, slow, clock=FakeClock(2_000.0), deliver_timeout=0.05)
    schedulers.append(scheduler)
    await scheduler.start()
    assert scheduler.delivered == 2
    assert await store.reminders.due(2_000.0) == []
    assert await store.reminders.get("s1", quick.id) is not None


async def test_wake_reschedules_for_an_earlier_reminder(store: Store, schedulers: list[ReminderScheduler]) -> None:
    """Adding an earlier reminder while the task sleeps on a later one, then wake(), fires it on time."""
    recorder = Recorder()
    scheduler = ReminderScheduler(store, recorder)
    schedulers.append(scheduler)
    await store.reminders.add("s1", "much later", time.time() + 3_600)
    await scheduler.start()
    await asyncio.sleep(0.05)
    assert scheduler.wakeups == 0
    early = await store.reminders.add("s2", "soon", time.time() + 0.3)
    added = time.monotonic()
    scheduler.wake()
    await recorder.until(1, timeout=0.3 + SLACK)
    row, late, when = recorder.calls[0]
    assert row.id == early.id and late is False
    assert 0.25 <= when - added <= 0.3 + SLACK


async def test_sleep_is_capped(store: Store, schedulers: list[ReminderScheduler]) -> None:
    """With nothing due the task still re-checks every max_sleep seconds (tolerates clock jumps)."""
    recorder = Recorder()
    clock = FakeClock(1_000.0)
    row = await store.reminders.add("s1", "far", 1_000_000.0)
    scheduler = ReminderScheduler(store, recorder, clock=clock, max_sleep=0.05)
    schedulers.append(scheduler)
    await scheduler.start()
    clock.now = 2_000_000.0  # the wall clock jumps past the due time; nobody calls wake()
    await recorder.until(1, timeout=1.0)
    assert recorder.calls[0][0].id == row.id


async def test_several_schedulers_fire_each_occurrence_once(store: Store, schedulers: list[ReminderScheduler]) -> None:
    """Three schedulers on one database (three processes' worth) deliver 20 due reminders once each."""
    rows = [await store.reminders.add("s1" if i % 2 else "s2", f"r{i}", 1_000.0 + i) for i in range(20)]
    recorders = [Recorder() for _ in range(3)]
    for recorder in recorders:
        schedulers.append(ReminderScheduler(store, recorder, clock=FakeClock(2_000.0)))
    await asyncio.gather(*(s.start() for s in schedulers))
    keys = sorted(r.key for recorder in recorders for r, _, _ in recorder.calls)
    assert keys == sorted((row.id, 0) for row in rows)
    assert await store.reminders.due(2_000.0) == []
