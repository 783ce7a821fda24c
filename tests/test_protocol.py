"""Protocol v1 parsing: every client frame is typed or refused here."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend import protocol as p
from backend.errors import ProtocolError


def test_plain_text_is_a_message() -> None:
    """A frame that is not JSON becomes a chat message (websocat users just type)."""
    request = p.parse_frame("hello there")
    assert isinstance(request, p.MessageRequest)
    assert request.content == "hello there"
    assert request.session_id is None


def test_json_scalar_is_a_message_too() -> None:
    """A bare number or string is text the user typed, not a protocol frame."""
    assert p.parse_frame("42").content == "42"  # type: ignore[union-attr]
    assert p.parse_frame('"quoted"').content == '"quoted"'  # type: ignore[union-attr]


def test_broken_json_object_is_refused() -> None:
    """Starting with '{' means the client meant JSON: say it is malformed instead of chatting it."""
    with pytest.raises(ProtocolError) as info:
        p.parse_frame('{"type": "message", ')
    assert info.value.code == "bad_json"


def test_unknown_type_is_refused_with_its_name() -> None:
    """Unknown types get a clear error naming the type."""
    with pytest.raises(ProtocolError) as info:
        p.parse_frame(json.dumps({"type": "launch_missiles"}))
    assert info.value.code == "unknown_type"
    assert "launch_missiles" in info.value.message


def test_missing_type_is_refused() -> None:
    """A JSON object without a string type is a bad request."""
    with pytest.raises(ProtocolError, match="type"):
        p.parse_frame(json.dumps({"content": "hi"}))


def test_binary_frames_are_refused() -> None:
    """Binary frames are not part of the protocol."""
    with pytest.raises(ProtocolError) as info:
        p.parse_frame(b"\x00\x01")
    assert info.value.code == "bad_frame"


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"type": "message", "content": ""}, "content"),
        ({"type": "message", "content": "x", "session_id": "../../etc"}, "session_id"),
        ({"type": "resume", "session_id": "abc", "last_seq": -1}, "last_seq"),
        ({"type": "resume"}, "session_id"),
        ({"type": "answer", "question_id": "q1"}, "content"),
        ({"type": "todo_update", "todo_id": "seven"}, "todo_id"),
        ({"type": "todo_add", "title": "x", "priority": "urgent"}, "priority"),
    ],
)
def test_malformed_fields_name_the_field(frame: dict[str, object], field: str) -> None:
    """Field validation errors name the offending field."""
    with pytest.raises(ProtocolError) as info:
        p.parse_frame(json.dumps(frame))
    assert info.value.code == "bad_request"
    assert field in info.value.message


def test_oversized_content_is_refused() -> None:
    """Content longer than the protocol limit is refused, not truncated."""
    with pytest.raises(ProtocolError, match="content"):
        p.parse_frame(json.dumps({"type": "message", "content": "x" * (p.MAX_CONTENT_CHARS + 1)}))


def test_every_documented_request_type_parses() -> None:
    """Each request type in docs/protocol.md has a parser."""
    samples = [
        {"type": "message", "content": "hi", "session_id": "s1", "client_id": "c1", "tz": "UTC"},
        {"type": "stop"},
        {"type": "answer", "question_id": "q", "content": "yes"},
        {"type": "approval", "approval_id": "a1", "decision": "allow_always", "note": "ok"},
        {"type": "approval_revoke", "grant": "run_terminal_command:git"},
        {"type": "resume", "session_id": "s1", "last_seq": 3},
        {"type": "history", "session_id": "s1"},
        {"type": "sessions"},
        {"type": "new"},
        {"type": "delete", "session_id": "s1"},
        {"type": "reset"},
        {"type": "rename", "title": "t"},
        {"type": "ping"},
        {"type": "tools"},
        {"type": "auth", "token": "t"},
        {"type": "todo_list"},
        {"type": "todo_add", "title": "t"},
        {"type": "todo_update", "todo_id": 1, "status": "done"},
        {"type": "todo_complete", "todo_id": 1},
        {"type": "todo_delete", "todo_id": 1},
        {"type": "reminder_list"},
        {"type": "reminder_add", "when": "in 1 minute", "message": "m"},
        {"type": "reminder_cancel", "reminder_id": 1},
        {"type": "sandbox_status"},
        {"type": "sandbox_stats"},
        {"type": "sandbox_logs", "tail": 10},
        {"type": "sandbox_reset"},
    ]
    parsed = {p.parse_frame(json.dumps(s)).type for s in samples}
    assert parsed == p.REQUEST_TYPES


def test_events_encode_compactly_and_keep_unicode() -> None:
    """Events are compact JSON with non-ASCII text kept as is."""
    body = p.event("delta", "s1", 7, agent="a", content="你好")
    text = p.encode(body)
    assert '"content":"你好"' in text
    assert json.loads(text)["seq"] == 7


@given(
    session_id=st.text(max_size=40),
    seq=st.integers(min_value=0, max_value=2**40),
    ts=st.floats(min_value=0, max_value=2e9, allow_nan=False).map(lambda t: round(t, 3)),
    agent=st.text(max_size=20),
    content=st.text(),
)
def test_encode_delta_is_byte_identical_to_encode(
    session_id: str, seq: int, ts: float, agent: str, content: str
) -> None:
    """The fast delta encoder produces exactly what the general encoder would."""
    body = {"type": "delta", "session_id": session_id, "seq": seq, "ts": ts, "agent": agent, "content": content}
    assert p.encode_delta(session_id, seq, ts, agent, content) == p.encode(body)
