"""Model call failures classified by exception type (the openai SDK's classes), never by message text.

The transport under the SDK is aiohttp, so httpx's exception types never appear: the SDK maps
transport failures to ``APIConnectionError`` / ``APITimeoutError`` and HTTP statuses to
``APIStatusError`` subclasses. Inside an AutoGen team a participant's exception does not cross the
runtime as an object: the group chat re-raises it as ``RuntimeError("<TypeName>: <message>\\n
Traceback: ...")`` (``SerializableException``). For those we look the type name up among the SDK's
own exception classes (and our :class:`ModelError`); nothing else of the text decides anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import openai

from ..errors import ModelError, ModelTimeoutError

_SERIALIZED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*): ([^\n]*)")


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _refused(error: BaseException) -> bool:
    """The SDK's aiohttp transport reports a refused connection as APITimeoutError; its cause tells."""
    causes = _chain(error.__cause__) if error.__cause__ is not None else iter(())
    return any(isinstance(c, OSError) and not isinstance(c, TimeoutError) for c in causes)


def _describe(
    kind: type[BaseException], message: str, status: int | None = None, *, refused: bool = False
) -> ModelError:
    if issubclass(kind, openai.APITimeoutError) and refused:
        return ModelError(f"the model endpoint is unreachable ({message})")
    if issubclass(kind, openai.APITimeoutError):
        return ModelTimeoutError(f"the model endpoint timed out ({message})")
    if issubclass(kind, openai.APIConnectionError):
        return ModelError(f"the model endpoint is unreachable ({message})")
    if issubclass(kind, openai.APIStatusError):
        prefix = f"the model endpoint answered HTTP {status}" if status else "the model endpoint answered an error"
        return ModelError(f"{prefix}: {message}")
    return ModelError(f"the model endpoint failed: {message}")


def model_failure(error: BaseException) -> ModelError | None:
    """The model failure behind ``error`` (raised directly or relayed by AutoGen's team), or None."""
    for link in _chain(error):
        if isinstance(link, ModelError):
            return link
        if isinstance(link, openai.APIError):
            status = link.status_code if isinstance(link, openai.APIStatusError) else None
            return _describe(type(link), link.message[:300], status, refused=_refused(link))
    for link in _chain(error):
        match = _SERIALIZED.match(str(link))
        if not isinstance(link, RuntimeError) or match is None:
            continue
        name, message = match.group(1), match.group(2)[:300]
        kinds: list[type[ModelError]] = [ModelError, *ModelError.__subclasses__()]
        ours = {kind.__name__: kind for kind in kinds}
        if name in ours:
            return ours[name](message)
        kind = getattr(openai, name, None)
        if isinstance(kind, type) and issubclass(kind, openai.APIError):
            status = _status(message)
            return _describe(kind, message, status)
    return None


def _status(message: str) -> int | None:
    """The status the SDK puts first in an APIStatusError's message ("Error code: 500 - ...")."""
    code = re.match(r"Error code: (\d{3})\b", message)
    return int(code.group(1)) if code else None
