"""HTTP for retriever sources and HTTP tool nodes: one request, a timeout, a byte cap."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ...errors import WorkflowError


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    text: str
    json: Any  # None when the body is not JSON
    truncated: bool


async def request(
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float,
    limit: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> HttpReply:
    if not url.startswith(("http://", "https://")):
        raise WorkflowError(f"not an http(s) URL: {url!r}")
    try:
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=False, transport=transport) as client,
            client.stream(
                method.upper(), url, params=dict(params or {}) or None, json=body, headers=dict(headers or {})
            ) as response,
        ):
            data = bytearray()
            truncated = False
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > limit:
                    truncated = True
                    del data[limit:]
                    break
            status = response.status_code
    except httpx.TimeoutException:
        raise WorkflowError(f"{method.upper()} {url} timed out after {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise WorkflowError(f"{method.upper()} {url} failed: {type(exc).__name__}: {exc}") from None
    text = data.decode("utf-8", errors="replace")
    parsed: Any = None
    if not truncated:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    return HttpReply(status, text, parsed, truncated)
