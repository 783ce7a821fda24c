"""Logging set-up: one format, our level, and third-party loggers kept quiet about message bodies."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
from typing import Any

#: the id of the HTTP request (or WebSocket connection) being handled: set by the edge
#: (``server/edge.py``), put on every log line written while handling it (and by the tasks it starts)
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

#: AutoGen logs every model call and tool call, with full message bodies, at INFO. Keep them at
#: WARNING unless LOG_LEVEL is DEBUG: no message bodies in INFO logs.
#: ``httpx2`` is the HTTP client under the openai SDK (it logs every request's URL at INFO).
QUIET_LOGGERS = (
    "autogen_core",
    "autogen_agentchat",
    "autogen_ext",
    "httpx",
    "httpx2",
    "httpcore",
    "openai",
    "websockets",
    # uvicorn logs every handshake with its path (a ?token= included) at INFO
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
)


class CancelledNoiseFilter(logging.Filter):
    """AutoGen's runtime logs a cancelled handler (the user pressed Stop) as an ERROR with a
    traceback. That is expected, not an error: show it at DEBUG only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.exc_info
            and record.exc_info[0] is not None
            and issubclass(record.exc_info[0], asyncio.CancelledError)
        ):
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG) and record.levelno <= logging.DEBUG
        return True


def install_request_ids() -> None:
    """Give every log record ``request`` (`` req=<id>`` while a request is handled, else empty)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "adds_request_id", False):
        return

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        current = REQUEST_ID.get()
        record.request = f" req={current}" if current else ""
        return record

    make.adds_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make)


def _with_request_field(record: logging.LogRecord) -> bool:
    if not hasattr(record, "request"):
        record.request = ""
    return True


def configure_logging(level: str, *, instance: str | None = None) -> None:
    """``instance``: this process's id, put on every line (several processes share one cluster)."""
    where = f" [{instance.replace('%', '%%')}]" if instance else ""
    install_request_ids()
    logging.basicConfig(
        level=level, format=f"%(asctime)s %(levelname)s{where} %(name)s%(request)s: %(message)s", stream=sys.stderr
    )
    for handler in logging.getLogger().handlers:  # records made elsewhere (makeLogRecord) lack the field
        handler.addFilter(_with_request_field)
    install_filters(debug=level == "DEBUG")


def install_filters(*, debug: bool = False) -> None:
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if not debug:
            logger.setLevel(logging.WARNING)
    runtime_logger = logging.getLogger("autogen_core")
    if not any(isinstance(f, CancelledNoiseFilter) for f in runtime_logger.filters):
        runtime_logger.addFilter(CancelledNoiseFilter())
