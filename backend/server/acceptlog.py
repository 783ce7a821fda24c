"""Rate-limited logging of the event loop's accept errors.

When the process runs out of file descriptors, asyncio reports every failed ``accept()`` through
the loop's exception handler; at thousands of clients that is hundreds of thousands of log lines.
:class:`AcceptErrorLog` logs the first one, then at most one summary per ``interval`` seconds with
how many were suppressed, and counts them all (``/healthz`` → ``connections.accept_errors``).
Every other exception goes on to the previous handler unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

ACCEPT_MESSAGES = ("socket.accept() out of system resource", "Error on transport creation")


class AcceptErrorLog:
    def __init__(self, *, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self.count = 0
        self.suppressed = 0
        self._last: float | None = None
        self._previous: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._previous = loop.get_exception_handler()
        loop.set_exception_handler(self.handle)

    def uninstall(self) -> None:
        if self._loop is not None and self._loop.get_exception_handler() == self.handle:
            self._loop.set_exception_handler(self._previous)
        self._loop = None

    def handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        if not message.startswith(ACCEPT_MESSAGES):
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self.count += 1
        now = self._clock()
        if self._last is not None and now - self._last < self.interval:
            self.suppressed += 1
            return
        self._last = now
        suppressed, self.suppressed = self.suppressed, 0
        logger.error(
            "%s: %s (%d similar errors suppressed in the last %.0f s; raise the file limit or MAX_CONNECTIONS)",
            message,
            context.get("exception"),
            suppressed,
            self.interval,
        )
