"""Logging set-up: one format, our level, and third-party loggers kept quiet about message bodies."""

from __future__ import annotations

import asyncio
import logging
import sys

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


def configure_logging(level: str, *, instance: str | None = None) -> None:
    """``instance``: this process's id, put on every line (several processes share one cluster)."""
    where = f" [{instance.replace('%', '%%')}]" if instance else ""
    logging.basicConfig(
        level=level, format=f"%(asctime)s %(levelname)s{where} %(name)s: %(message)s", stream=sys.stderr
    )
    install_filters(debug=level == "DEBUG")


def install_filters(*, debug: bool = False) -> None:
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if not debug:
            logger.setLevel(logging.WARNING)
    runtime_logger = logging.getLogger("autogen_core")
    if not any(isinstance(f, CancelledNoiseFilter) for f in runtime_logger.filters):
        runtime_logger.addFilter(CancelledNoiseFilter())
