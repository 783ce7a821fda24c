"""In-process per-token CPU of each layer of the token path, without the network or other processes:
stable numbers that explain the end-to-end CPU per token (and compare before/after a change).

* ``sdk_chunk``: what the openai SDK does per SSE event (``construct_type`` into a
  ``ChatCompletionChunk``), next to ``json.loads`` and pydantic's ``model_validate_json`` of the same line;
* ``hub``: the gateway's own path for one delta: ``EventHub.emit`` + ``flush`` (encode, one SQLite
  transaction per flush, deliver to a subscriber that encodes the frame like ``broadcast`` does), with
  ``sessions`` channels each emitting one delta per loop iteration, as at saturation.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

LINE = (
    '{"id":"chatcmpl-b","object":"chat.completion.chunk","created":0,"model":"fake-model",'
    '"choices":[{"index":0,"delta":{"content":" t12@3333333"},"finish_reason":null}]}'
)


def _per_call_us(fn: Any, n: int) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - t0) / n * 1e6)
    return best


def sdk_chunk(n: int = 3000) -> dict[str, float]:
    from openai._models import construct_type
    from openai.types.chat import ChatCompletionChunk

    return {
        "json_loads_us": _per_call_us(lambda: json.loads(LINE), n),
        "sdk_construct_type_us": _per_call_us(
            lambda: construct_type(type_=ChatCompletionChunk, value=json.loads(LINE)), n
        ),
        "pydantic_model_validate_json_us": _per_call_us(lambda: ChatCompletionChunk.model_validate_json(LINE), n),
    }


class _Subscriber:
    __slots__ = ("bytes",)

    def __init__(self) -> None:
        self.bytes = 0

    def deliver(self, frame: str) -> None:
        self.bytes += len(frame.encode())  # broadcast() encodes the str once per frame


def hub(sessions: int = 40, ticks: int = 150, hub_module: Any = None) -> dict[str, float]:
    """CPU per delta of emit + flush over ``sessions`` channels, each emitting one delta per batch
    (as in the server under load: one transaction per batch; the SQLite writes run on the writer
    thread, so process time includes them)."""
    return asyncio.run(_hub(sessions, ticks, hub_module))


async def _hub(sessions: int, ticks: int, hub_module: Any) -> dict[str, float]:
    from backend.sessions import hub as default_hub
    from backend.store import Store

    mod = hub_module or default_hub
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "hub.db")
        await store.open()
        try:
            channels = []
            for i in range(sessions):
                sid = f"{i:032x}"
                await store.sessions.create(sid)
                channel = mod.Channel(sid, 0)
                channel.subscribers.add(_Subscriber())
                channels.append(channel)
            event_hub = mod.EventHub(store)
            best = float("inf")
            for _ in range(3):
                batches = event_hub.batches_written
                t0 = time.process_time()
                for tick in range(ticks):
                    for channel in channels:
                        event_hub.emit(channel, "delta", agent="assistant", content=f" t{tick}@1234567890123")
                    await event_hub.flush()
                best = min(best, (time.process_time() - t0) / (ticks * sessions) * 1e6)
                per_batch = ticks * sessions / max(1, event_hub.batches_written - batches)
        finally:
            await store.close()
    return {"hub_us_per_delta": best, "sessions": sessions, "deltas_per_flush": per_batch}


def run() -> dict[str, Any]:
    return {"sdk_chunk": sdk_chunk(), "hub": [hub(sessions=n) for n in (1, 10, 40)]}


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(run(), indent=1))
