"""Logging set-up: third-party request and message logs stay out of INFO; cancellations are not errors."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from backend.logs import CancelledNoiseFilter, install_filters


@pytest.fixture
def info_root():
    """The root logger at INFO (as with LOG_LEVEL=INFO) and the third-party loggers unset."""
    names = ("", "httpx2", "autogen_core")
    saved = {n: logging.getLogger(n).level for n in names}
    logging.getLogger().setLevel(logging.INFO)
    for name in names[1:]:
        logging.getLogger(name).setLevel(logging.NOTSET)
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("info_root")
def test_request_loggers_are_quiet_at_info() -> None:
    """The SDK's HTTP client (httpx2) and AutoGen do not log requests at INFO unless LOG_LEVEL is DEBUG."""
    assert logging.getLogger("httpx2").isEnabledFor(logging.INFO)  # what the SDK would log
    install_filters()
    assert not logging.getLogger("httpx2").isEnabledFor(logging.INFO)
    assert not logging.getLogger("autogen_core").isEnabledFor(logging.INFO)
    assert logging.getLogger("httpx2").isEnabledFor(logging.WARNING)


def _record(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        info = sys.exc_info()
    return logging.LogRecord("autogen_core", logging.ERROR, __file__, 1, "handler failed", None, info)


def test_cancelled_handler_is_not_logged_as_error() -> None:
    """A handler cancelled by Stop is dropped from ERROR output; a real failure still gets through."""
    f = CancelledNoiseFilter()
    assert f.filter(_record(asyncio.CancelledError())) is False
    assert f.filter(_record(RuntimeError("boom"))) is True


def test_log_lines_carry_the_request_id_while_a_request_is_handled() -> None:
    """With the request-id record factory, a record made while REQUEST_ID is set says req=<id>; else nothing."""
    import logging

    from backend.logs import REQUEST_ID, install_request_ids

    install_request_ids()
    formatter = logging.Formatter("%(name)s%(request)s: %(message)s")
    logger = logging.getLogger("backend.test")
    token = REQUEST_ID.set("req-7")
    try:
        inside = logger.makeRecord("backend.test", logging.INFO, __file__, 1, "hello", (), None)
    finally:
        REQUEST_ID.reset(token)
    outside = logger.makeRecord("backend.test", logging.INFO, __file__, 1, "hello", (), None)
    assert formatter.format(inside) == "backend.test req=req-7: hello"
    assert formatter.format(outside) == "backend.test: hello"
