"""A per-connection token bucket. Pure: the clock is passed in."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` frames per ``per`` seconds, with bursts up to ``rate``."""

    def __init__(self, rate: int, per: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(rate)
        self._refill = rate / per
        self._tokens = float(rate)
        self._clock = clock
        self._last = clock()
        self.strikes = 0  # consecutive refusals

    def allow(self) -> bool:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._refill)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            self.strikes = 0
            return True
        self.strikes += 1
        return False
