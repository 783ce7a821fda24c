"""Failed authentication throttling: slowed, then locked, per key (a user name, a client address).

Pure bookkeeping over an injected clock; the caller keeps one instance per process (documented as
per process in docs/security.md) and asks :meth:`retry_after` (or :meth:`blocked`) before checking
a credential. The one throttle of the server: password sign-ins use it per user and per address
(slowed after ``free`` failures, locked after ``lock_after``); the edge uses it per address for
wrong keys and tokens with ``free == lock_after`` (AUTH_FAIL_LIMIT failures lock the address for
AUTH_FAIL_WINDOW seconds, no delays before).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Record:
    failures: int = 0
    first: float = 0.0
    last: float = 0.0
    locked_until: float = 0.0


@dataclass
class LoginThrottle:
    """After ``free`` failures within ``window`` seconds each further attempt must wait an
    exponentially growing delay; after ``lock_after`` failures the key is locked for ``lock_seconds``."""

    free: int = 5
    lock_after: int = 20
    window: float = 900.0
    lock_seconds: float = 900.0
    max_keys: int = 100_000
    clock: Callable[[], float] = time.monotonic
    #: attempts refused while waiting or locked (for /healthz)
    refused: int = 0
    _records: dict[str, _Record] = field(default_factory=dict)

    def retry_after(self, *keys: str) -> float:
        """Seconds the caller must wait before another attempt (0: go ahead)."""
        now = self.clock()
        wait = 0.0
        for key in keys:
            record = self._records.get(key)
            if record is None:
                continue
            if record.locked_until > now:
                wait = max(wait, record.locked_until - now)
                continue
            if now - record.first > self.window:
                del self._records[key]
                continue
            extra = record.failures - self.free
            if extra > 0:
                delay = min(60.0, 0.5 * 2 ** (extra - 1))
                wait = max(wait, delay - (now - record.last))
        return wait

    def blocked(self, *keys: str) -> bool:
        """True (and counted in ``refused``) when any of ``keys`` must wait."""
        if self.retry_after(*keys) > 0:
            self.refused += 1
            return True
        return False

    @property
    def tracked(self) -> int:
        return len(self._records)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        if len(self._records) >= self.max_keys:
            self._evict(now)
        for key in keys:
            record = self._records.get(key)
            if record is None or now - record.first > self.window:
                record = self._records[key] = _Record(first=now)
            record.failures += 1
            record.last = now
            if record.failures >= self.lock_after:
                record.locked_until = now + self.lock_seconds

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._records.pop(key, None)

    def _evict(self, now: float) -> None:
        stale = [k for k, r in self._records.items() if now - r.first > self.window and r.locked_until <= now]
        for key in stale:
            del self._records[key]
        if len(self._records) >= self.max_keys:  # still full: drop the oldest half
            for key in sorted(self._records, key=lambda k: self._records[k].first)[: self.max_keys // 2]:
                del self._records[key]
