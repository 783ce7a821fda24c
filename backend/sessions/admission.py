"""Admission of turn starts: at most ``limit`` turns of this process between "start" and "first model
request sent", admitted in arrival order.

Why. Starting a turn is CPU work with few awaits in between: the team is built
(``TeamFactory.build``), restored from saved state (``team.load_state``), AutoGen's runtime starts
and the first model request is prepared. asyncio runs every ready task once per loop iteration, so
when a burst of first turns is ready together one iteration runs all of them, and every other
session's tokens and every ping wait behind it (100 first turns: ~50 ms stalls, docs/performance.md,
scenario 10). Admitting a few at a time keeps each iteration's share of start-up work bounded; a
burst then costs its own turns a little queueing (throughput), not everyone's latency.

The gate is a FIFO semaphore with tickets: a ticket is released once (by whoever comes first: the
session when its first model request goes out, or the end of the turn), and a waiter that is
cancelled leaves the queue without taking a slot (or passes on one it was granted at that moment),
so no failure, cancel or stop can leak a slot or deadlock a session.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable


class Ticket:
    """One admitted turn's slot. ``release()`` is idempotent."""

    __slots__ = ("_gate",)

    def __init__(self, gate: TurnGate) -> None:
        self._gate: TurnGate | None = gate

    @property
    def held(self) -> bool:
        return self._gate is not None

    def release(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate._release()


class TurnGate:
    """FIFO admission with at most ``limit`` tickets out at a time (``limit`` 0: no limit)."""

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        self.limit = limit
        self._active = 0
        self._waiters: deque[asyncio.Future[Ticket]] = deque()
        #: turns admitted in all, and how many of them had to wait (for /healthz)
        self.admitted = 0
        self.waited = 0
        #: told the number of waiting turns each time one joins the queue (must not block)
        self.on_queue: Callable[[int], None] | None = None

    @property
    def active(self) -> int:
        """Tickets out now."""
        return self._active

    @property
    def waiting(self) -> int:
        """Turns queued for admission now."""
        return sum(1 for w in self._waiters if not w.done())

    def snapshot(self) -> dict[str, int]:
        return {
            "limit": self.limit,
            "active": self._active,
            "waiting": self.waiting,
            "admitted": self.admitted,
            "waited": self.waited,
        }

    def try_acquire(self) -> Ticket | None:
        """A ticket now if a slot is free; None otherwise. (A free slot never leaves a turn waiting: a
        release hands it to the first waiter at once, so taking it here passes nobody.)"""
        if self.limit and self._active >= self.limit:
            return None
        return self._grant()

    async def acquire(self) -> Ticket:
        """A ticket, waiting in arrival order. Cancelling the wait leaves the queue cleanly."""
        ticket = self.try_acquire()
        if ticket is not None:
            return ticket
        waiter: asyncio.Future[Ticket] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.waited += 1
        if self.on_queue is not None:
            self.on_queue(self.waiting)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                waiter.result().release()  # granted as we were cancelled: pass the slot on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def _grant(self) -> Ticket:
        self._active += 1
        self.admitted += 1
        return Ticket(self)

    def _release(self) -> None:
        self._active -= 1
        self._wake()

    def _wake(self) -> None:
        # A wait cancelled a moment ago (its future is already cancelled, its task not yet resumed
        # to remove it) is skipped.
        while self._waiters and (not self.limit or self._active < self.limit):
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(self._grant())
