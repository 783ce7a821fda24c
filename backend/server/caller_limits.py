"""Limits per caller (AUTH_MODE=keys): requests per minute per key or user (in this process), and
model tokens per UTC day (from the usage records, so every process agrees) for turn-starting routes."""

from __future__ import annotations

import re
from collections import OrderedDict

from ..identity.principal import Principal
from .ratelimit import TokenBucket

#: HTTP routes that start a model turn (the token budget is checked before them)
TURN_ROUTES = re.compile(
    r"^(/v1/sessions/[^/]+/messages|/v1/chat/completions|/api/chat/completions|/chat|/chat/stream)$"
)
MAX_CALLERS = 10_000


class CallerRates:
    """One token bucket of ``per_minute`` requests per caller; memory bounded (least recent dropped)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self.refused = 0

    def allow(self, caller: Principal) -> bool:
        if not self.per_minute:
            return True
        key = f"{caller.tenant}\0{caller.key_id or caller.user_id}"
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.per_minute, 60.0)
            while len(self._buckets) > MAX_CALLERS:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(key)
        if bucket.allow():
            return True
        self.refused += 1
        return False

    @property
    def retry_after(self) -> int:
        """Seconds until one more request fits (a bucket refills ``per_minute`` per 60 s)."""
        return max(1, round(60 / max(self.per_minute, 1)))
