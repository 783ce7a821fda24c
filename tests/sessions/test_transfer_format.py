"""The export document (pure): building, checking an uploaded one, renumbering, the context note."""

from __future__ import annotations

from typing import Any

import pytest

from backend.context.excerpt import head_excerpt
from backend.context.tokens import load_encoding
from backend.errors import TransferError
from backend.protocol import encode
from backend.sessions.transfer_format import (
    build_document,
    context_note,
    parse_document,
    renumbered,
    summaries_from_state,
)

ENCODING = load_encoding()


def count(text: str) -> int:
    return len(ENCODING.encode_ordinary(text))


def truncate(text: str, limit: int) -> str:
    return head_excerpt(text, limit, ENCODING)[0]


def exported(events: list[dict[str, Any]], summaries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return build_document(
        session_id="old",
        title="A title",
        timezone="Europe/Paris",
        created_at=1.0,
        exported_at=2.0,
        events=events,
        summaries=summaries or [],
        todos=[{"id": 7, "title": "t", "notes": None, "due": None, "priority": "low", "status": "open"}],
        budget=4096,
    )


def turn(seq: int, user: str, answer: str) -> list[dict[str, Any]]:
    return [
        {"type": "user_message", "session_id": "old", "seq": seq, "ts": float(seq), "content": user},
        {"type": "response", "session_id": "old", "seq": seq + 1, "ts": seq + 0.5, "content": answer, "agent": "bot"},
        {"type": "done", "session_id": "old", "seq": seq + 2, "ts": seq + 0.9, "status": "ok", "usage": {}},
    ]


def test_round_trip_and_renumbering() -> None:
    """A built document parses back; renumbered events get the new id, seq 1.., the original times
    and payload, and encode with the envelope first like the hub's frames."""
    events = turn(10, "hi", "hello") + turn(20, "more", "sure")
    checked = parse_document(exported(events))
    assert checked.title == "A title" and checked.timezone == "Europe/Paris" and checked.source_id == "old"
    assert [(t.title, t.priority, t.status) for t in checked.todos] == [("t", "low", "open")]
    fresh = renumbered(checked.events, "new")
    assert [e["seq"] for e in fresh] == list(range(1, 7))
    assert [e["ts"] for e in fresh] == [e["ts"] for e in events]
    assert encode(fresh[0]).startswith('{"type":"user_message","session_id":"new","seq":1,"ts":10.0,')


def test_out_of_order_and_foreign_events_are_refused() -> None:
    """A seq that does not grow, an unknown type, a wrong field type: TransferError 400 naming it."""
    events = turn(1, "a", "b")
    events[2]["seq"] = 1
    with pytest.raises(TransferError) as caught:
        parse_document(exported(events))
    assert caught.value.status == 400 and caught.value.code == "events_out_of_order"
    assert "events[2].seq" in caught.value.message
    events = turn(1, "a", "b")
    events[1]["type"] = "deleted"  # a reply, not a timeline event
    with pytest.raises(TransferError, match="not a timeline event type"):
        parse_document(exported(events))
    events = turn(1, "a", "b")
    events[0]["ts"] = float("nan")
    with pytest.raises(TransferError, match="ts must be a number"):
        parse_document(exported(events))


def test_summaries_are_read_from_the_saved_team_state() -> None:
    """Each agent's rolling summary is found inside AutoGen's nested state; agents without one are left out."""
    state = {
        "agent_states": {
            "coder": {"agent_state": {"llm_context": {"summary": "did X", "summarized_messages": 6}}},
            "planner": {"agent_state": {"llm_context": {"summary": ""}}},
            "Manager": {"message_thread": []},
        }
    }
    assert summaries_from_state(state) == [{"agent": "coder", "summary": "did X", "summarized_messages": 6}]
    assert summaries_from_state({"weird": 1}) == [] and summaries_from_state([]) == []


def test_context_note_keeps_the_summary_and_latest_messages_within_budget() -> None:
    """The note holds the summary and the newest messages that fit, oldest first, and never exceeds
    the budget; an old message that does not fit is left out."""
    events: list[dict[str, Any]] = []
    for i in range(40):
        events += turn(1 + 3 * i, f"question number {i} " + "blah " * 30, f"answer number {i}")
    checked = parse_document(exported(events, [{"agent": "bot", "summary": "The user likes teal. " * 200}]))
    note = context_note(checked, 300, count, truncate)
    assert count(note) <= 300
    assert note.startswith("[This conversation was imported") and "likes teal" in note
    assert "answer number 39" in note and "answer number 0\n" not in note
    assert note.index("question number 39") < note.index("answer number 39")
    assert context_note(checked, 0, count, truncate) == ""


def test_a_single_long_latest_message_is_cut_to_fit() -> None:
    """When only the newest message is too long for the budget, its beginning is kept."""
    checked = parse_document(exported(turn(1, "hi", "word " * 5000)))
    note = context_note(checked, 200, count, truncate)
    assert count(note) <= 200 and "bot: word word" in note


def test_huge_messages_are_never_counted_whole() -> None:
    """A 1,000,000-character message costs the tokenizer at most budget x 16 characters per call."""
    checked = parse_document(exported(turn(1, "x" * 999_999, "y " * 400_000)))
    seen: list[int] = []

    def measuring(text: str) -> int:
        seen.append(len(text))
        return count(text)

    note = context_note(checked, 100, measuring, truncate)
    assert count(note) <= 100 and max(seen) <= 100 * 16 + 200


def test_the_note_starts_after_the_last_reset() -> None:
    """What was said before a reset (forgotten by the original team) does not reach the new team."""
    events = [*turn(1, "old secret", "ok"), {"type": "reset", "session_id": "old", "seq": 4, "ts": 4.0}]
    events += turn(5, "after the reset", "fine")
    note = context_note(parse_document(exported(events)), 500, count, truncate)
    assert "after the reset" in note and "old secret" not in note
