"""Fires due reminders for every session from one background task.

The task sleeps until the earliest ``due_at`` of any scheduled reminder (one ``MIN`` query), capped
at ``max_sleep`` seconds so a wall-clock jump is noticed; :meth:`ReminderScheduler.wake` (called
when a reminder is added or cancelled) makes it look again at once. There is no polling.

Delivery contract, chosen and pinned by ``tests/test_scheduler.py``:

* **Exactly once, in one transaction.** A due occurrence is claimed (PostgreSQL: ``FOR UPDATE SKIP
  LOCKED``, so schedulers in several processes each claim different rows), ``deliver(row, late,
  tx)`` runs inside that transaction (the server queues the ``reminder`` command for the session's
  owner there) and the occurrence is recorded (:meth:`~backend.store.ReminderRepo.record_fire`)
  before the commit. A crash or :meth:`ReminderScheduler.stop` before the commit rolls all of it
  back: the occurrence is delivered again on the next start, with the same
  ``row.key == (id, fire_count)``; the session de-duplicates on that key.
* **A failing delivery is not retried.** If ``deliver`` raises or exceeds ``deliver_timeout`` the
  error is logged with its traceback and the occurrence is recorded anyway, so one broken
  reminder can never wedge the loop or repeat forever.
* **Recording is conditional** on ``(id, fire_count, status='scheduled')``: a reminder cancelled
  while being delivered stays cancelled, and a second scheduler cannot advance it twice.
* **Late delivery.** Everything already due when :meth:`ReminderScheduler.start` runs (due while
  the server was down) is delivered with ``late=True``; afterwards, ``late`` is True when an
  occurrence is delivered more than ``late_after`` seconds after its due time.
* **Repeats** move to the first occurrence after *now*: missed occurrences are skipped, so a
  recurring reminder that was due several times during downtime fires once, late.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from .store import ReminderRow, Store, Tx
from .tasks import cancel_and_wait
from .timeparse import local_timezone_name, next_occurrence

logger = logging.getLogger(__name__)

#: ``deliver(row, late, tx)``: runs inside the transaction that claimed the occurrence and records it.
Deliver = Callable[[ReminderRow, bool, Tx], Awaitable[None]]
Clock = Callable[[], float]

MAX_SLEEP = 60.0
LATE_AFTER = 60.0
DELIVER_TIMEOUT = 30.0
BATCH = 100
ERROR_BACKOFF = 1.0


class ReminderScheduler:
    """One task that delivers due reminders of all sessions. ``start()`` once, ``stop()`` at shutdown."""

    def __init__(
        self,
        store: Store,
        deliver: Deliver,
        *,
        clock: Clock = time.time,
        max_sleep: float = MAX_SLEEP,
        late_after: float = LATE_AFTER,
        deliver_timeout: float | None = DELIVER_TIMEOUT,
        recorded: Callable[[ReminderRow], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._deliver = deliver
        self._recorded = recorded
        self._clock = clock
        self._max_sleep = max_sleep
        self._late_after = late_after
        self._deliver_timeout = deliver_timeout
        self._wake_event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: How many times the background task has woken up (tests use it to prove it is idle).
        self.wakeups = 0
        #: How many occurrences have been handed to ``deliver`` (successfully or not) and recorded.
        self.delivered = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Deliver everything already due (``late=True``), then start the background task.

        Calling it again while running does nothing.
        """
        if self.running:
            return
        await self._fire_due(startup=True)
        self._wake_event.clear()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="reminder-scheduler")

    def wake(self) -> None:
        """Re-read the next due time now (a reminder was added or cancelled). Safe at any time."""
        self._wake_event.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    # --- internals ---------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            # Clear before looking at the database, so a wake() during the look is not lost.
            self._wake_event.clear()
            try:
                await self._fire_due(startup=False)
                delay = await self._delay()
            except Exception:
                logger.exception("reminder scheduler pass failed; retrying in %.0fs", ERROR_BACKOFF)
                delay = ERROR_BACKOFF
            if delay > 0:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
                # arrives as the wake event is set, and stop() then waits on this loop forever
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake_event.wait()
            self.wakeups += 1

    async def _delay(self) -> float:
        next_due = await self._store.reminders.next_due_at()
        if next_due is None:
            return self._max_sleep
        return min(max(next_due - self._clock(), 0.0), self._max_sleep)

    async def _fire_due(self, *, startup: bool) -> None:
        while await self._fire_one(startup=startup):
            pass

    async def _fire_one(self, *, startup: bool) -> bool:
        """Claim the earliest due occurrence, deliver it and record it, in one transaction."""
        store = self._store
        async with store.db.transaction() as tx:
            now = self._clock()
            row = await store.reminders.claim_due(now, tx)
            if row is None:
                return False
            late = startup or now - row.due_at > self._late_after
            logger.info(
                "delivering reminder %s#%d to session %s (late=%s)", row.id, row.fire_count, row.session_id, late
            )
            try:
                await asyncio.wait_for(self._deliver(row, late, tx), timeout=self._deliver_timeout)
            except Exception:
                logger.exception("delivering reminder %d failed; not retrying this occurrence", row.id)
            fired_at = self._clock()
            next_due: float | None = None
            if row.repeat:
                try:
                    next_due = next_occurrence(
                        row.repeat, row.due_at, row.timezone or local_timezone_name(), after=fired_at
                    )
                except Exception:
                    logger.exception("reminder %d has an unusable repeat rule; firing it for the last time", row.id)
            recorded = await store.reminders.record_fire(row, fired_at=fired_at, next_due_at=next_due, tx=tx)
        self.delivered += 1
        if not recorded:
            logger.info("reminder %d changed during delivery (cancelled?); left as it is", row.id)
        elif self._recorded is not None:
            try:
                await self._recorded(row)  # e.g. tell clients the list of scheduled reminders changed
            except Exception:
                logger.exception("reminder %d: the recorded hook failed", row.id)
        return True
