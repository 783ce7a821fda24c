"""uvicorn's h11 protocol with a deadline for the request head.

uvicorn arms its keep-alive timer only after a response, so a TCP connection that never sends a
complete request head (an idle socket, a slowloris) would hold a file descriptor forever, outside
``MAX_CONNECTIONS`` (which counts WebSockets and event streams). Here a deadline is armed at
``connection_made`` and cancelled only once a complete request head has arrived (h11 has left
``IDLE``; uvicorn's own timer is cancelled by any byte, so a slowloris would defeat it), and the
connection is closed when it fires. This uses uvicorn internals (``self.conn``, ``self.loop``,
``timeout_keep_alive_handler``); uvicorn is pinned to ``<1`` and
``tests/server/test_connection_limits.py`` fails loudly if they change.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeadDeadlineH11Protocol(H11Protocol):
    head_timeout: float = 10.0
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_deadline = self.loop.call_later(self.head_timeout, self._head_expired)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # a partial head keeps the deadline (uvicorn's own timer is cancelled by any byte)
        if self._head_deadline is not None and self.conn.their_state is not h11.IDLE:
            self._head_deadline.cancel()
            self._head_deadline = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        super().connection_lost(exc)

    def _head_expired(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE:
            self.timeout_keep_alive_handler()  # sends nothing, closes the transport


def h11_with_head_deadline(seconds: float) -> type[HeadDeadlineH11Protocol]:
    """The protocol class to give uvicorn (``Config(http=...)``) for this deadline."""
    return type("H11WithHeadDeadline", (HeadDeadlineH11Protocol,), {"head_timeout": seconds})
