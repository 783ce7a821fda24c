"""The per-connection token bucket."""

from __future__ import annotations

from backend.server.ratelimit import TokenBucket


def test_burst_then_refill() -> None:
    """A full bucket allows `rate` frames at once, then refills at rate/per per second."""
    now = [0.0]
    bucket = TokenBucket(3, 3.0, clock=lambda: now[0])
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]
    assert bucket.strikes == 1
    now[0] += 1.0
    assert bucket.allow() is True
    assert bucket.strikes == 0


def test_strikes_count_consecutive_refusals() -> None:
    """Strikes count refusals in a row, which the server uses to close abusive connections."""
    bucket = TokenBucket(1, 100.0, clock=lambda: 0.0)
    bucket.allow()
    for expected in (1, 2, 3):
        assert bucket.allow() is False
        assert bucket.strikes == expected
