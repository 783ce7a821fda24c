"""Summarise a pyinstrument text profile of the gateway: where the event loop's callbacks spend time.

Walks the tree under ``Handle._run`` (every callback the loop runs) and adds up **self time** (the
leaves: ``[self]`` entries, built-ins, leaf functions) by the module it runs in, grouped into the
layers of the token path. Inclusive time per top-level callback is useless here: a whole model stream
runs inside one AutoGen ``_on_message`` task. A built-in (``json.dumps``'s C part, ``Cursor.execute``)
counts for the layer of the Python code that called it, except SQLite, which has its own row.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_LINE = re.compile(r"^(?P<prefix>[\s│├└─|`-]*?)(?P<secs>\d+\.\d+) (?P<name>\S+)\s+(?P<where>\S+)")

#: (label, substrings of the file path); the first match wins, so specific entries come first.
LAYERS = (
    ("SSE decoding (the openai SDK's SSEDecoder)", ("openai/_streaming",)),
    ("HTTP client (aiohttp, httpx, the SDK's request code)", ("aiohttp/", "httpx", "openai/", "yarl/", "multidict/")),
    ("pydantic (chunk validation, AutoGen message models)", ("pydantic",)),
    ("AutoGen (runtime, group chat, agent, create_stream, its OpenTelemetry spans)", ("autogen_", "opentelemetry/")),
    ("gateway model client + tap (backend/llm)", ("backend/llm/",)),
    ("gateway hub: encode + persist + deliver", ("backend/sessions/hub.py", "backend/protocol.py")),
    ("gateway context budget (backend/context)", ("backend/context/",)),
    ("gateway server: ASGI faces, edge, WebSocket connections (backend/server)", ("backend/server/",)),
    ("gateway other (sessions, team, tools)", ("backend/",)),
    ("token counting (tiktoken)", ("tiktoken",)),
    ("stdlib json", ("json/",)),
    (
        "HTTP server (uvicorn, Starlette, sse-starlette, websockets, h11)",
        ("uvicorn/", "starlette/", "sse_starlette/", "websockets/", "h11/", "anyio/"),
    ),
    ("asyncio + sockets", ("asyncio/", "selectors", "socket")),
)
SQLITE = "SQLite (sqlite3 calls)"
OTHER = "other (stdlib typing, contextlib, uuid, copy, logging, ...)"


def _layer(where: str) -> str:
    for label, keys in LAYERS:
        if any(k in where for k in keys):
            return label
    return OTHER


def summarize(path: Path) -> dict[str, Any]:
    lines = path.read_text(errors="replace").splitlines()
    root_depth: int | None = None
    total = 0.0
    stack: list[tuple[int, str]] = []  # (depth, layer) of the open ancestors
    layers: dict[str, float] = {}
    top: list[tuple[float, str, str]] = []
    parsed = [m for m in map(_LINE.match, lines)]
    for i, m in enumerate(parsed):
        if not m:
            continue
        depth = len(m.group("prefix"))
        name, where, secs = m.group("name"), m.group("where"), float(m.group("secs"))
        if root_depth is None:
            if name == "Handle._run":
                root_depth, total = depth, secs
            continue
        if depth <= root_depth:
            break
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if where.startswith("<"):  # a built-in: the caller's layer, but SQLite is a layer of its own
            layer = SQLITE if name.startswith(("Connection.", "Cursor.")) else (stack[-1][1] if stack else OTHER)
        else:
            layer = _layer(where)
        if depth == root_depth + 3:
            top.append((secs, name, where))
        nxt = next((n for n in parsed[i + 1 :] if n), None)
        is_leaf = nxt is None or len(nxt.group("prefix")) <= depth
        if is_leaf:
            layers[layer] = layers.get(layer, 0.0) + secs
        stack.append((depth, layer))
    top = sorted(top, reverse=True)[:12]
    return {
        "callbacks_s": total,
        "attribution": "self time by module",
        "layers": {
            k: {"s": v, "share": v / total if total else 0.0} for k, v in sorted(layers.items(), key=lambda kv: -kv[1])
        },
        "top": [{"s": s, "share": s / total if total else 0.0, "function": n, "where": w} for s, n, w in top],
    }


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    print(json.dumps(summarize(Path(sys.argv[1])), indent=1))
