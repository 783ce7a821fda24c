"""Bad input at the protocol edge gets an error frame and the connection stays open (issue 12).

Integers beyond 64 bits, JSON nested thousands of levels deep, unknown time zones, and a bug in one
frame's handler: each answered with an ``error`` frame on the same socket, which then still works.
"""

from __future__ import annotations

import pytest

from backend.server.connection import Connection
from tests.conftest import RunningServer
from tests.support.client import WsClient

HUGE = 2**63
HUGER = 10**40


async def still_works(client: WsClient) -> None:
    await client.send(type="ping")
    assert (await client.recv())["type"] == "pong"


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "resume", "session_id": "abc", "last_seq": HUGE},
        {"type": "resume", "session_id": "abc", "last_seq": HUGER},
        {"type": "history", "session_id": "abc", "after_seq": HUGE},
        {"type": "todo_complete", "session_id": "abc", "todo_id": HUGE},
        {"type": "todo_delete", "session_id": "abc", "todo_id": HUGER},
        {"type": "reminder_cancel", "session_id": "abc", "reminder_id": HUGE},
    ],
)
async def test_integers_beyond_64_bits_are_an_error_frame(client: WsClient, frame: dict[str, object]) -> None:
    """SQLite used to raise OverflowError and close the socket with 1011."""
    await client.send(**frame)
    reply = await client.recv()
    assert reply["type"] == "error" and reply["code"] == "bad_request", reply
    await still_works(client)


@pytest.mark.parametrize("depth", [40, 10_000, 20_000])
async def test_deeply_nested_json_is_an_error_frame(client: WsClient, depth: int) -> None:
    """JSON nested 10,000-20,000 levels used to raise RecursionError in the parser."""
    await client.send_raw('{"type": "ping", "x": ' + "[" * depth + "]" * depth + "}")
    reply = await client.recv()
    assert reply["type"] == "error" and reply["code"] == "bad_json", reply
    await still_works(client)


async def test_an_unknown_time_zone_is_refused_where_it_arrives(client: WsClient) -> None:
    """tz is validated at the edge, never stored unchecked."""
    await client.send(type="message", content="hi", tz="Mars/Olympus_Mons")
    reply = await client.recv()
    assert reply["type"] == "error" and "time zone" in reply["message"], reply
    await still_works(client)


async def test_a_bug_in_a_handler_is_an_internal_error_frame_and_the_socket_stays_open(
    server: RunningServer, client: WsClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected exception in one frame becomes internal_error with a request id in the log."""

    async def broken(self: Connection, request: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(Connection, "on_sessions", broken)
    await client.send(type="sessions")
    reply = await client.recv()
    assert reply["type"] == "error" and reply["code"] == "internal_error", reply
    assert reply["request_id"] in caplog.text
    monkeypatch.undo()
    await still_works(client)
