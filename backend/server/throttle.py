"""Per-address throttle of failed authentications. Pure: the clock is passed in.

After ``limit`` failures within ``window`` seconds an address is blocked until the oldest of them
leaves the window; while blocked, even the right token is refused (otherwise guessing goes on).
Memory is bounded: past ``max_addresses`` the address seen least recently is forgotten.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class FailureThrottle:
    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max = max_addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self.refused = 0  # attempts refused while blocked (for /healthz)

    def _recent(self, address: str) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        horizon = self._clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def blocked(self, address: str) -> bool:
        times = self._recent(address)
        if times is not None and len(times) >= self.limit:
            self.refused += 1
            return True
        return False

    def failed(self, address: str) -> None:
        times = self._recent(address)
        if times is None:
            times = self._failures[address] = deque(maxlen=self.limit)
        times.append(self._clock())
        self._failures.move_to_end(address)
        while len(self._failures) > self._max:
            self._failures.popitem(last=False)

    @property
    def tracked(self) -> int:
        return len(self._failures)
