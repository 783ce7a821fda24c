"""A hypothesis-driven fuzzer of the WebSocket protocol against the real server (issue 12).

Each example starts a real server (scripted model behind it), opens three sockets, makes two
sessions, and sends a few hundred generated frames in a random order across the sockets: valid
frames with hostile field values, frames of unknown or misspelt types, mutated JSON (truncated,
spliced), plain text and binary. Then it asserts: no socket was closed (no 1011), no unhandled
exception was logged, every turn that was acknowledged ended with ``done``, seqs strictly increase
per session, and a normal turn still works. 10 examples x 1,000 frames = 10,000 frames per CI run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.protocol import REQUEST_TYPES
from backend.settings import Settings
from tests.conftest import RunningServer, base_env
from tests.fakes.model_server import FakeModelServer
from tests.support.client import UNIT, WsClient, of_type

pytestmark = pytest.mark.slow

EXAMPLES = 10
FRAMES = 1000
SOCKETS = 3
SESSION_SLOTS = ("@0", "@1", "nope", "")  # the two real sessions, an unknown id, an empty one
FIELDS = (
    "session_id", "content", "last_seq", "after_seq", "limit", "todo_id", "reminder_id", "question_id",
    "title", "tz", "text", "when", "repeat", "command", "tail", "token", "client_id", "status", "notes",
)  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["", "0", "-1", "Europe/Paris", "Mars/Base", "in 5 minutes", "daily", "ls", "!ls", "💥" * 10])
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip
frames = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(REQUEST_TYPES)) | st.text(max_size=12)},
    optional={name: values | st.sampled_from(SESSION_SLOTS) for name in FIELDS},
)


@st.composite
def raw_frames(draw: st.DrawFn) -> str | bytes:
    kind = draw(st.integers(min_value=0, max_value=9))
    if kind == 0:
        return draw(st.text(min_size=1, max_size=120))  # plain text: a chat message
    if kind == 1:
        return draw(st.binary(min_size=1, max_size=40))
    text = json.dumps(draw(frames), default=str)
    if kind == 2:  # truncated
        return text[: draw(st.integers(min_value=1, max_value=max(1, len(text) - 1)))]
    if kind == 3:  # spliced garbage
        at = draw(st.integers(min_value=0, max_value=len(text)))
        return text[:at] + draw(st.text(max_size=5)) + text[at:]
    return text


plans = st.lists(
    st.tuples(st.integers(min_value=0, max_value=SOCKETS - 1), raw_frames()), min_size=FRAMES, max_size=FRAMES
)


def substitute(frame: str | bytes, sessions: list[str]) -> str | bytes:
    if isinstance(frame, bytes):
        return frame
    return frame.replace('"@0"', json.dumps(sessions[0])).replace('"@1"', json.dumps(sessions[1]))


async def drain(client: WsClient) -> list[dict[str, Any]]:
    """Everything until the pong of a ping: proves the socket is open and the server answers."""
    await client.send(type="ping")
    return await client.recv_until("pong", timeout=30 * UNIT)


async def run_plan(plan: list[tuple[int, str | bytes]], tmp: Path) -> None:
    fake = FakeModelServer()
    await fake.start()
    env = base_env(tmp, fake) | {"RATE_LIMIT_MESSAGES": "1000000", "QUESTION_TIMEOUT": "2"}
    running = await RunningServer(Settings.from_env(env)).start()
    clients = [await running.client() for _ in range(SOCKETS)]
    try:
        sessions = [(await clients[0].turn(f"hello {i}"))[0]["session_id"] for i in range(2)]
        for index, frame in plan:
            await clients[index].send_raw(substitute(frame, sessions))
        for client in clients:
            await drain(client)  # raises if the server closed the socket (1011 or anything else)
        assert running.runtime is not None
        app = running.runtime.app
        await wait_idle(app)
        store = app.store
        for row in await store.sessions.list():
            events = [json.loads(frame) for frame in await store.events.after(row.id, 0, None)]
            seqs = [e["seq"] for e in events]
            assert seqs == sorted(set(seqs)), f"seqs of {row.id} not strictly increasing"
            types = [e["type"] for e in events]
            assert types.count("done") >= types.count("user_message"), f"a turn of {row.id} ended without done"
        events = await clients[0].turn("a normal turn after the storm")
        assert of_type(events, "done")[-1]["status"] == "ok"
    finally:
        for client in clients:
            await client.close()
        await running.stop()
        await fake.stop()


async def wait_idle(app: Any) -> None:
    """Until no session runs or queues a turn (queued turns of the fuzz run end quickly)."""
    for _ in range(600):
        if app.sessions.running_count() == 0:
            await app.hub.flush()
            return
        await asyncio.sleep(0.05)
    raise AssertionError("sessions still running long after the last frame")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
        HealthCheck.large_base_example,
    ],
)
@given(plan=plans)
def test_fuzzed_frames_never_break_the_server(
    plan: list[tuple[int, str | bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    """No 1011 close, no unhandled exception, every turn done, seqs increasing, a normal turn after."""
    caplog.clear()
    with tempfile.TemporaryDirectory() as tmp, caplog.at_level(logging.ERROR):
        asyncio.run(run_plan(plan, Path(tmp)))
    unhandled = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert not unhandled, [r.getMessage() for r in unhandled]
