"""Session leases: conditional claim, renewal, release, fencing; a race has exactly one winner."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from backend.store import Store


async def test_claim_extend_and_refuse(store: Store) -> None:
    """The first claimer gets epoch 1, may extend it; a second claimer is refused while it is live."""
    assert await store.leases.claim("s1", "a", 30.0) == 1
    assert await store.leases.claim("s1", "a", 30.0) == 1
    assert await store.leases.claim("s1", "b", 30.0) is None
    assert await store.leases.live_owner("s1") == "a"


async def test_release_lets_the_next_claimer_in_with_a_higher_epoch(store: Store) -> None:
    """After release (or expiry) another owner claims with epoch + 1; the old epoch is fenced."""
    assert await store.leases.claim("s1", "a", 30.0) == 1
    assert await store.leases.release("s1", "a", 1)
    assert await store.leases.live_owner("s1") is None
    assert await store.leases.claim("s1", "b", 30.0) == 2
    async with store.db.transaction() as tx:
        assert await store.leases.fence(tx, [("s1", 1)], "a") == {"s1"}
        assert await store.leases.fence(tx, [("s1", 2)], "b") == set()


async def test_expired_lease_is_taken_over(store: Store) -> None:
    """A lease that was not renewed in time (ttl elapsed) can be claimed by another owner."""
    assert await store.leases.claim("s1", "a", -1.0) == 1  # already expired
    assert await store.leases.claim("s1", "b", 30.0) == 2
    assert await store.leases.renew("a", 30.0) == {}
    assert await store.leases.renew("b", 30.0) == {"s1": 2}


async def test_two_processes_racing_for_one_lease_exactly_one_wins(
    store: Store, make_store: Callable[[], Store]
) -> None:
    """Two stores (two connection pools, as two processes have) claim 100 sessions at once: one winner each."""
    other = make_store()
    await other.open()
    try:
        for i in range(100):
            sid = f"race{i}"
            results = await asyncio.gather(store.leases.claim(sid, "a", 30.0), other.leases.claim(sid, "b", 30.0))
            assert sorted(r is not None for r in results) == [False, True], results
            winner = "a" if results[0] is not None else "b"
            assert await store.leases.live_owner(sid) == winner
    finally:
        await other.close()


async def test_renew_does_not_revive_a_released_lease(store: Store) -> None:
    """A lease its owner released stays free: the owner's next heartbeat does not extend it."""
    assert await store.leases.claim("s1", "a", 30.0) == 1
    assert await store.leases.claim("s2", "a", 30.0) == 1
    assert await store.leases.release("s1", "a", 1)
    assert await store.leases.renew("a", 30.0) == {"s2": 1}
    assert await store.leases.live_owner("s1") is None


async def test_unowned_lists_sessions_without_a_live_lease(store: Store) -> None:
    """Of several sessions, those with no lease or an expired one are reported; live ones are not."""
    assert await store.leases.claim("s1", "a", 30.0) == 1
    assert await store.leases.claim("s2", "a", -1.0) == 1
    assert await store.leases.unowned(["s1", "s2", "s3"]) == ["s2", "s3"]
    assert await store.leases.unowned([]) == []
