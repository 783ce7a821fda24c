"""Measurements inside the gateway (bench only): the first-token path stage by stage (``--profile``
on ``ttft``, ``BENCH_STAGES_OUT``), and each token's model write -> frame write (``paced``,
``BENCH_FRAMES_OUT``).

This directory is put first on the gateway's ``PYTHONPATH`` (so Python imports this file at start-up)
with ``BENCH_STAGES_OUT`` set. It wraps the functions a message passes through on its way to the
first delta, and records ``time.perf_counter_ns()`` (CLOCK_MONOTONIC) at the first entry of each per
message; the timelines are written as JSON when the gateway exits. Wrapping costs ~1 µs per stage.
Private names of AutoGen, the openai SDK and aiohttp are used on purpose: this is a measurement
tool, pinned to the versions in requirements.txt, never imported by the product.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import time
from typing import Any

OUT = os.environ.get("BENCH_STAGES_OUT")
timelines: list[list[tuple[str, int]]] = []
#: per timeline: milliseconds the garbage collector stopped the loop while that message was handled
collected: list[float] = []


def mark(name: str) -> None:
    if timelines and all(n != name for n, _ in timelines[-1]):
        timelines[-1].append((name, time.perf_counter_ns()))


def _wrap_async(owner: Any, attr: str, start: str, end: str | None = None) -> None:
    original = getattr(owner, attr)

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        mark(start)
        result = await original(*args, **kwargs)
        if end:
            mark(end)
        return result

    setattr(owner, attr, wrapper)


def _wrap_sync(owner: Any, attr: str, start: str, end: str | None = None) -> None:
    original = getattr(owner, attr)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        mark(start)
        result = original(*args, **kwargs)
        if end:
            mark(end)
        return result

    setattr(owner, attr, wrapper)


def install() -> None:
    import aiohttp.client as aiohttp_client
    import openai._base_client as sdk
    from autogen_agentchat.teams._group_chat import _base_group_chat_manager as manager
    from autogen_agentchat.teams._group_chat import _chat_agent_container as container
    from autogen_ext.models.openai import _openai_client as autogen_openai

    from backend.context import model_context
    from backend.llm import client, tap
    from backend.server import connection
    from backend.sessions import hub, session
    from backend.store import sqlite
    from backend.team import runner

    handle = connection.Connection.handle

    async def on_frame(self: Any, frame: Any) -> Any:
        if isinstance(frame, str) and '"message"' in frame[:40]:
            timelines.append([])
            collected.append(0.0)
            mark("message frame received")
        return await handle(self, frame)

    connection.Connection.handle = on_frame  # type: ignore[method-assign]
    import gc

    gc_started = [0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter_ns()
        elif collected:
            collected[-1] += (time.perf_counter_ns() - gc_started[0]) / 1e6

    gc.callbacks.append(on_gc)
    _wrap_async(session.Session, "submit", "submit", "user_message stored and acknowledged")
    _wrap_async(session.Session, "_ensure_team", "turn task started", "team ready (built/restored or live)")
    _wrap_async(runner.TurnRunner, "run", "pending inbox read, run_stream called")
    _wrap_async(manager.BaseGroupChatManager, "handle_start", "AutoGen: group chat manager got the task")
    _wrap_async(container.ChatAgentContainer, "handle_request", "AutoGen: agent container got the request")
    _wrap_async(model_context.BudgetedChatCompletionContext, "get_messages", "context budget step")
    _wrap_sync(autogen_openai.BaseOpenAIChatCompletionClient, "create_stream", "AutoGen: model client called")
    _wrap_sync(sdk.BaseClient, "_build_request", "SDK: building the HTTP request", "SDK: request built")
    _wrap_async(aiohttp_client.ClientSession, "_request", "aiohttp: request started")
    _wrap_async(client.ClosingOpenAIChatCompletionClient, "_post_stream", "SDK: post", "response headers received")
    import openai
    from autogen_agentchat import base as agentchat_base

    _wrap_async(openai.AsyncStream, "close", "tail: closing the model's response")
    _wrap_async(manager.BaseGroupChatManager, "handle_agent_response", "tail: AutoGen: manager got the agent's reply")
    _wrap_sync(agentchat_base.TaskResult, "__init__", "tail: AutoGen: TaskResult")

    create = tap.StreamingTap.create

    async def tapped(self: Any, messages: Any, **kwargs: Any) -> Any:
        sink = self._on_delta
        if sink is not None:

            def on_delta(text: str) -> None:
                mark("first chunk parsed")
                sink(text)

            self._on_delta = on_delta
        try:
            result = await create(self, messages, **kwargs)
            mark("tail: model call returned to AutoGen")
            return result
        finally:
            self._on_delta = sink

    tap.StreamingTap.create = tapped  # type: ignore[method-assign]
    finish = sqlite._SqliteTx.finish

    def commit(self: Any, conn: Any) -> None:
        if timelines and any(n == "first delta: hub batch started" for n, _ in timelines[-1]):
            mark("first delta: SQLite COMMIT started (writer thread)")
            finish(self, conn)
            mark("first delta: SQLite COMMIT done (writer thread)")
        else:
            finish(self, conn)

    sqlite._SqliteTx.finish = commit  # type: ignore[method-assign]
    write = hub.EventHub._write

    async def batch(self: Any, items: list[Any]) -> None:
        if any(item.delta for item in items):
            mark("first delta: hub batch started")
        await write(self, items)

    hub.EventHub._write = batch  # type: ignore[method-assign]
    deliver = hub._deliver

    def delivered(channel: Any, frame: str) -> None:
        if frame.startswith('{"type":"delta"'):
            mark("first delta delivered to the connection")
        elif frame.startswith('{"type":"response"'):
            mark("tail: `response` delivered to the connection")
        elif frame.startswith('{"type":"done"'):
            mark("tail: `done` delivered to the connection")
        deliver(channel, frame)

    hub._deliver = delivered
    chunks = client.ClosingOpenAIChatCompletionClient._create_stream_chunks

    async def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        mark("messages and tools converted")
        async for chunk in chunks(self, *args, **kwargs):
            yield chunk
        mark("tail: [DONE] read, response closed")

    client.ClosingOpenAIChatCompletionClient._create_stream_chunks = read  # type: ignore[method-assign]
    emit = session.Session.emit

    def emitted(self: Any, type_: str, **fields: Any) -> None:
        if type_ in ("agent_message", "response"):
            mark(f"tail: `{type_}` emitted")
        emit(self, type_, **fields)

    session.Session.emit = emitted  # type: ignore[method-assign]
    _wrap_async(session.Session, "_save_state", "tail: team state saved (starts)", "tail: team state saved")


def dump() -> None:
    assert OUT is not None
    with open(OUT, "w", encoding="utf-8") as out:
        json.dump({"timelines": timelines, "gc_ms": collected}, out)


FRAMES_OUT = os.environ.get("BENCH_FRAMES_OUT")


def install_frames() -> None:
    """Per token: the fake model's write time (in its text, ``t<i>@<ns>``) to the moment the gateway
    handed the delta frame carrying it to the socket. Measured on the gateway's side, so it holds when
    the clients' core is saturated and a client-side measure says more about the clients."""
    import array
    import re

    from uvicorn.protocols.websockets import websockets_sansio_impl as ws

    tokens = re.compile(r"t\d+@(\d+)")
    delays = array.array("q")
    sent_at = array.array("q")
    send = ws.WebSocketsSansIOProtocol.send

    async def timed(self: Any, message: Any) -> None:
        await send(self, message)
        text = message.get("text") if message.get("type") == "websocket.send" else None
        if text is not None and text.startswith('{"type":"delta"'):
            now = time.perf_counter_ns()
            for sent in tokens.findall(text):
                delays.append(now - int(sent))
                sent_at.append(int(sent))

    ws.WebSocketsSansIOProtocol.send = timed  # type: ignore[method-assign]

    # garbage collections meanwhile: each one stops the loop for its whole duration
    import gc

    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter_ns()
        else:
            pauses[info["generation"]].append((time.perf_counter_ns() - started[0]) / 1e6)

    gc.callbacks.append(on_gc)

    def dump_frames() -> None:
        """``<out>.bin``: (model write ns, delay ns) pairs for the scenario to cut into its measured
        windows; ``<out>``: the garbage collections."""
        assert FRAMES_OUT is not None
        pairs = array.array("q")
        for sent, delay in zip(sent_at, delays, strict=True):
            pairs.extend((sent, delay))
        with open(FRAMES_OUT + ".bin", "wb") as raw:
            pairs.tofile(raw)
        result = {
            f"gen{g}": {"count": len(v), "total_ms": sum(v), "max_ms": max(v, default=0.0)} for g, v in pauses.items()
        }
        with open(FRAMES_OUT, "w", encoding="utf-8") as out:
            json.dump({"gc": result}, out)

    atexit.register(dump_frames)


if OUT:
    install()
    atexit.register(dump)
if FRAMES_OUT:
    install_frames()
