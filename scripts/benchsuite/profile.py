"""Summarise a pyinstrument text profile of the gateway: where the event loop's callbacks spend time.

Reads the tree under ``Handle._run`` (every callback the loop runs) and groups its children into
the layers of the token path: the openai SDK's stream (SSE decoding and one pydantic chunk object
per token), AutoGen (its runtime and the agent's create_stream loop), the hub (persist + deliver),
and the rest.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_LINE = re.compile(r"^(?P<prefix>[\s│├└─|`-]*?)(?P<secs>\d+\.\d+) (?P<name>\S+)\s+(?P<where>\S+)")

LAYERS = (
    ("openai SDK: stream decoding + chunk objects", ("AsyncStream.", "openai/_streaming")),
    ("openai SDK: request building (transform, post)", ("AsyncCompletions.create", "openai/")),
    ("AutoGen runtime + agent (incl. create_stream loop, tap, tool schemas)", ("autogen_",)),
    ("gateway hub: encode + SQLite + deliver", ("EventHub.", "backend/sessions/hub.py")),
    ("gateway session/turn code", ("backend/",)),
    ("websockets + asyncio transport", ("websockets/", "asyncio/", "selector_events")),
)


def _layer(name: str, where: str) -> str:
    for label, keys in LAYERS:
        if any(k in name or k in where for k in keys):
            return label
    return "other"


def summarize(path: Path) -> dict[str, Any]:
    lines = path.read_text(errors="replace").splitlines()
    parent_depth = None
    total = 0.0
    children: list[tuple[float, str, str]] = []
    for line in lines:
        m = _LINE.match(line)
        if not m:
            continue
        depth = len(m.group("prefix"))
        if parent_depth is None:
            if m.group("name") == "Handle._run":
                parent_depth, total = depth, float(m.group("secs"))
            continue
        if depth <= parent_depth:
            break
        if depth == parent_depth + 3:
            children.append((float(m.group("secs")), m.group("name"), m.group("where")))
    layers: dict[str, float] = {}
    for secs, name, where in children:
        key = _layer(name, where)
        layers[key] = layers.get(key, 0.0) + secs
    top = sorted(children, reverse=True)[:12]
    return {
        "callbacks_s": total,
        "layers": {
            k: {"s": v, "share": v / total if total else 0.0} for k, v in sorted(layers.items(), key=lambda kv: -kv[1])
        },
        "top": [{"s": s, "share": s / total if total else 0.0, "function": n, "where": w} for s, n, w in top],
    }


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    print(json.dumps(summarize(Path(sys.argv[1])), indent=1))
