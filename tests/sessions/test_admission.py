"""The turn-start gate (sessions/admission.py): at most N tickets, FIFO, no leaked slot on cancel."""

from __future__ import annotations

import asyncio

import pytest

from backend.sessions.admission import Ticket, TurnGate
from tests.support.client import UNIT


class Queued:
    """Waits on ``gate.on_queue`` until ``count`` turns are waiting (no sleeps)."""

    def __init__(self, gate: TurnGate) -> None:
        self.counts: asyncio.Queue[int] = asyncio.Queue()
        gate.on_queue = self.counts.put_nowait

    async def until(self, count: int) -> None:
        async with asyncio.timeout(UNIT):
            while await self.counts.get() < count:
                pass


async def within(task: asyncio.Task[Ticket]) -> Ticket:
    """The task's ticket, failing (not hanging) when it never comes."""
    async with asyncio.timeout(UNIT):
        return await task


def start_waiters(gate: TurnGate, n: int, admitted: list[int]) -> list[asyncio.Task[Ticket]]:
    async def take(i: int) -> Ticket:
        ticket = await gate.acquire()
        admitted.append(i)
        return ticket

    return [asyncio.create_task(take(i)) for i in range(n)]


async def test_admits_at_most_the_limit_and_the_rest_wait() -> None:
    """With limit 2, two tickets are handed out at once and a third caller waits for a release."""
    gate = TurnGate(2)
    queued = Queued(gate)
    first, second = gate.try_acquire(), await gate.acquire()
    assert first is not None and second.held
    assert gate.try_acquire() is None
    admitted: list[int] = []
    (third,) = start_waiters(gate, 1, admitted)
    await queued.until(1)
    assert (gate.active, gate.waiting, admitted) == (2, 1, [])
    first.release()
    ticket = await within(third)
    assert admitted == [0] and ticket.held
    assert (gate.active, gate.waiting) == (2, 0)


async def test_waiters_are_admitted_in_arrival_order() -> None:
    """Five callers queued behind a limit of 1 are admitted one release at a time, first come first served."""
    gate = TurnGate(1)
    queued = Queued(gate)
    held = gate.try_acquire()
    assert held is not None
    admitted: list[int] = []
    tasks = start_waiters(gate, 5, admitted)
    await queued.until(5)
    held.release()
    for i, task in enumerate(tasks):
        ticket = await within(task)
        assert admitted == list(range(i + 1))
        assert gate.active == 1
        ticket.release()
    assert (gate.active, gate.waiting, gate.admitted, gate.waited) == (0, 0, 6, 5)


async def test_a_newcomer_does_not_pass_the_queue() -> None:
    """A slot freed while turns wait goes to the first waiter, not to a caller that arrives just then."""
    gate = TurnGate(1)
    queued = Queued(gate)
    held = await gate.acquire()
    admitted: list[int] = []
    (waiter,) = start_waiters(gate, 1, admitted)
    await queued.until(1)
    held.release()
    assert gate.try_acquire() is None  # the slot is already the waiter's
    (await within(waiter)).release()
    assert gate.try_acquire() is not None


async def test_release_is_idempotent() -> None:
    """Releasing one ticket twice (first model request, then the turn's end) frees one slot only."""
    gate = TurnGate(1)
    ticket = await gate.acquire()
    ticket.release()
    ticket.release()
    assert gate.active == 0 and not ticket.held
    again = await gate.acquire()
    assert gate.try_acquire() is None
    again.release()


async def test_a_cancelled_waiter_leaves_the_queue_without_taking_a_slot() -> None:
    """Cancelling a wait (stop, close) removes it; the next release goes to the waiter behind it."""
    gate = TurnGate(1)
    queued = Queued(gate)
    held = await gate.acquire()
    admitted: list[int] = []
    first, second = start_waiters(gate, 2, admitted)
    await queued.until(2)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert gate.waiting == 1
    held.release()
    (await within(second)).release()
    assert admitted == [1]
    assert (gate.active, gate.waiting) == (0, 0)


async def test_a_waiter_cancelled_as_it_is_granted_passes_the_slot_on() -> None:
    """A slot granted in the same moment its waiter is cancelled goes on to the next waiter, not lost."""
    gate = TurnGate(1)
    queued = Queued(gate)
    held = await gate.acquire()
    admitted: list[int] = []
    first, second = start_waiters(gate, 2, admitted)
    await queued.until(2)
    held.release()  # grants the slot to ``first`` (its task has not run yet) ...
    first.cancel()  # ... which is cancelled before it could take it
    with pytest.raises(asyncio.CancelledError):
        await first
    (await within(second)).release()
    assert admitted == [1]
    assert (gate.active, gate.waiting) == (0, 0)


async def test_a_wait_cancelled_just_before_a_release_is_skipped() -> None:
    """A waiter whose task was cancelled but has not run yet is skipped by the release that follows."""
    gate = TurnGate(1)
    queued = Queued(gate)
    held = await gate.acquire()
    admitted: list[int] = []
    first, second = start_waiters(gate, 2, admitted)
    await queued.until(2)
    first.cancel()  # its future is cancelled now, its task resumes later
    held.release()
    (await within(second)).release()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert admitted == [1]
    assert (gate.active, gate.waiting) == (0, 0)


async def test_limit_zero_admits_everyone() -> None:
    """TURN_START_CONCURRENCY=0 turns admission off: every caller gets a ticket at once."""
    gate = TurnGate(0)
    tickets = [gate.try_acquire() for _ in range(100)]
    assert all(t is not None for t in tickets)
    assert gate.active == 100 and gate.waited == 0


def test_a_negative_limit_is_refused() -> None:
    """A negative limit is a configuration error, not "no limit"."""
    with pytest.raises(ValueError, match="limit"):
        TurnGate(-1)
