"""The HTTP transport under the model client: the openai SDK's aiohttp transport, acknowledging fast.

Why this exists. A model stream arrives as many small writes. A reused keep-alive connection is in
Linux's "interactive" (ping-pong) mode after the previous request/response exchange, so the kernel
delays its ACKs (up to ~40 ms). A model server that leaves Nagle's algorithm on (no
``TCP_NODELAY``; several HTTP stacks default to that) then holds each small write until the previous
one is acknowledged: tokens, the final chunk and ``[DONE]`` reached us ~31 ms late on loopback, while
a fresh connection read them within 0.1 ms (measured: docs/performance.md, "tail" scenario).

``TCP_QUICKACK`` set when the response headers arrive takes the socket out of ping-pong mode for the
rest of that response (it re-enters only when we send the next request), so every read acknowledges
at once and a Nagle-holding server sends the next write immediately. The hook is aiohttp's public
tracing API (``on_request_end`` fires when the headers are in, before the body is read).

The transport class itself is the SDK's vendored one (``openai._vendor.httpx_aiohttp``): the same
transport ``DefaultAioHttpClient()`` builds, given a session factory. That import is private, so the
openai version is pinned narrowly and ``tests/llm/test_transport.py`` fails loudly if it changes.
"""

from __future__ import annotations

import logging
import socket
from types import SimpleNamespace
from typing import Any

import aiohttp
from openai import DefaultAioHttpClient
from openai._constants import DEFAULT_CONNECTION_LIMITS
from openai._vendor.httpx_aiohttp.transport import AiohttpTransport

logger = logging.getLogger(__name__)

#: Linux only; elsewhere the hook does nothing.
QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class QuickAckStats:
    """How often the hook ran and failed (visible to tests and /healthz if wanted)."""

    def __init__(self) -> None:
        self.set = 0
        self.failed = 0


STATS = QuickAckStats()


def quickack(sock: socket.socket | None) -> bool:
    """Leave ping-pong mode on ``sock`` so its reads acknowledge at once; False when not possible."""
    if QUICKACK is None or sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
    except OSError:
        STATS.failed += 1
        logger.debug("TCP_QUICKACK could not be set", exc_info=True)
        return False
    STATS.set += 1
    return True


async def _on_request_end(
    session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
) -> None:
    # No connection: the whole body was already in when the headers were parsed (aiohttp released
    # the connection), so there is nothing left to acknowledge quickly.
    connection = params.response.connection
    transport = connection.transport if connection is not None else None
    quickack(transport.get_extra_info("socket") if transport is not None else None)


def model_http_client() -> Any:
    """The ``http_client`` for ``AsyncOpenAI``: the SDK's aiohttp client with the ACK hook.

    The session is what the SDK's transport builds by default (same limits, same TLS context) plus
    the hook; the transport creates it lazily, inside the running loop."""
    limits = DEFAULT_CONNECTION_LIMITS
    transport = AiohttpTransport(limits=limits)

    def session() -> aiohttp.ClientSession:
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(_on_request_end)
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry,
            ssl=transport.ssl_context,
        )
        return aiohttp.ClientSession(connector=connector, trace_configs=[trace])

    transport.client = session
    return DefaultAioHttpClient(transport=transport)
