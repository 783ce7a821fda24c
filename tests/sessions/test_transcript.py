"""The Markdown transcript of an export (pure), checked with an independent CommonMark parser."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from backend.sessions.transcript import closed, fence_for, fenced, open_fence, render_markdown

PARSER = MarkdownIt("commonmark")


def parse(markdown: str) -> list[Any]:
    return PARSER.parse(markdown)


def h3_count(markdown: str) -> int:
    return sum(1 for t in parse(markdown) if t.type == "heading_open" and t.tag == "h3")


def document(events: list[dict[str, Any]], **session: Any) -> dict[str, Any]:
    meta = {"id": "s1", "title": "t", "timezone": None, "created_at": 0.0, **session}
    return {"format": "agentchat-session", "version": 1, "exported_at": 0.0, "session": meta, "events": events}


def test_fence_is_longer_than_any_backtick_run() -> None:
    """A fence beats the longest backtick run inside; plain text gets three."""
    assert fence_for("no ticks") == "```"
    assert fence_for("a ```` b ` c") == "`````"
    block = fenced("```\nx\n```")
    assert [t.content for t in parse(block) if t.type == "fence"] == ["```\nx\n```\n"]


def test_open_fences_are_closed_and_html_blocks_escaped() -> None:
    """An unclosed code block is closed at the message's end; a line starting an HTML block is escaped."""
    assert open_fence("text\n```py\nx = 1") == "```"
    assert open_fence("```\nx\n```") is None
    assert open_fence("~~~~\n```\n~~~~") is None
    assert open_fence("``` a`b\nnot a fence") is None  # backticks in the info string: not a fence
    assert closed("```py\nx = 1") == "```py\nx = 1\n```"
    assert closed("<!-- never closed\nmore") == "\\<!-- never closed\nmore"
    assert closed("```\n<b>kept inside code</b>\n```") == "```\n<b>kept inside code</b>\n```"


def test_transcript_names_agents_and_skips_repeated_response() -> None:
    """Each agent's message is headed with its name; the turn's response repeating it is not shown twice;
    deltas of an unfinished turn appear once, marked unfinished; Chinese text is kept as is."""
    events = [
        {"type": "user_message", "seq": 1, "ts": 1.0, "content": "你好"},
        {"type": "agent_message", "seq": 2, "ts": 2.0, "agent": "planner", "content": "计划如下"},
        {"type": "response", "seq": 3, "ts": 2.0, "agent": "planner", "content": "计划如下"},
        {"type": "done", "seq": 4, "ts": 3.0, "status": "ok"},
        {"type": "user_message", "seq": 5, "ts": 4.0, "content": "next"},
        {"type": "delta", "seq": 6, "ts": 5.0, "agent": "coder", "content": "half an ans"},
        {"type": "delta", "seq": 7, "ts": 5.1, "agent": "coder", "content": "wer"},
        {"type": "done", "seq": 8, "ts": 6.0, "status": "cancelled"},
    ]
    text = render_markdown(document(events, timezone="Asia/Shanghai"))
    assert text.count("计划如下") == 1 and "你好" in text
    assert "half an answer" in text and "(unfinished)" in text and "*Turn ended: cancelled*" in text
    assert "CST" in text  # times in the session's zone
    assert h3_count(text) == 4


PIECES = [
    "```",
    "````",
    "~~~",
    "`",
    "~",
    "\n",
    "\n\n",
    "   ",
    "<!--",
    "<pre>",
    "<div>",
    "-->",
    "# ",
    "> ",
    "- ",
    "a",
    "中文",
]
HOSTILE_TEXT = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)


@settings(max_examples=300, deadline=None)
@given(user=HOSTILE_TEXT, result=HOSTILE_TEXT)
def test_no_content_can_break_the_structure(user: str, result: str) -> None:
    """Whatever backticks, tildes or HTML a message or tool result holds, every block keeps its heading
    and a tool result comes back whole from its fence."""
    events = [
        {"type": "user_message", "seq": 1, "ts": 1.0, "content": user},
        {"type": "tool_call", "seq": 2, "ts": 2.0, "agent": "a", "name": "t", "arguments": {"x": user}},
        {"type": "tool_result", "seq": 3, "ts": 3.0, "agent": "a", "name": "t", "content": result},
        {"type": "response", "seq": 4, "ts": 4.0, "agent": "a", "content": user},
        {"type": "user_message", "seq": 5, "ts": 5.0, "content": "last"},
    ]
    text = render_markdown(document(events))
    expected = 5 if user else 4  # an empty response is not shown
    assert h3_count(text) == expected
    fences = [t.content for t in parse(text) if t.type == "fence" and t.info == "text"]
    assert fences == [result if result.endswith("\n") or not result else result + "\n"]
