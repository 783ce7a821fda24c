"""A session export as a readable Markdown transcript (``export?format=markdown``). Pure.

User messages and the agents' answers are Markdown already (models answer with code blocks), so
they are kept as they are, with any code block they leave open closed at their end: nothing in
one message can swallow the rest of the transcript. Tool calls and results are fenced code blocks
whose fence is longer than any run of backticks inside them, so their content cannot end the block
early. Times are shown in the session's time zone (UTC when it has none or an unknown one).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: a CommonMark fence line: up to three spaces, then ``` or ~~~ (three or more), then the rest
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_BACKTICKS = re.compile(r"`+")
_HTML_START = re.compile(r"^( {0,3})<")
#: longest tool result shown (the export's JSON has all of it)
RESULT_CHARS = 4000


def fence_for(text: str, char: str = "`") -> str:
    """A fence longer than any run of ``char`` in ``text`` (at least three)."""
    runs = re.findall(re.escape(char) + "+", text)
    return char * max(3, max((len(run) for run in runs), default=0) + 1)


def fenced(text: str, info: str = "") -> str:
    """``text`` as a fenced code block it cannot break out of."""
    fence = fence_for(text)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{fence}{info}\n{body}{fence}"


def _fence_step(line: str, current: str | None) -> tuple[str | None, bool]:
    """The fence open after ``line`` (CommonMark rules), and whether ``line`` is a fence line."""
    match = _FENCE.match(line)
    if match is None:
        return current, False
    marks, rest = match.group(1), match.group(2)
    if current is None:
        if marks[0] == "`" and "`" in rest:
            return None, False  # a backtick fence's info string may not hold backticks: not a fence
        return marks, True
    if marks[0] == current[0] and len(marks) >= len(current) and not rest.strip():
        return None, True
    return current, False


def open_fence(text: str) -> str | None:
    """The fence a Markdown text leaves open at its end, or None."""
    current: str | None = None
    for line in text.splitlines():
        current, _ = _fence_step(line, current)
    return current


def closed(text: str) -> str:
    """Markdown ``text`` that cannot reach past its end: a code block it leaves open is closed, and
    a line outside code that starts with ``<`` is escaped (an HTML block such as ``<!--`` or
    ``<pre>`` would otherwise run on into what follows)."""
    current: str | None = None
    lines = []
    for raw in text.rstrip("\n").splitlines():
        before = current
        current, is_fence = _fence_step(raw, current)
        html = before is None and not is_fence and _HTML_START.match(raw)
        lines.append(_HTML_START.sub(r"\1\\<", raw, count=1) if html else raw)
    if current is not None:
        lines.append(current)
    return "\n".join(lines)


def _zone(name: str | None) -> dt.tzinfo:
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return dt.UTC


def _when(ts: Any, zone: dt.tzinfo) -> str:
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        return ""
    try:
        return dt.datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M:%S %Z")
    except (OverflowError, OSError, ValueError):
        return ""


def _inline(text: Any) -> str:
    """A short value inside backticks (a code span sized to what it holds)."""
    value = " ".join(str(text).split()) or "-"
    ticks = "`" * (max((len(r) for r in _BACKTICKS.findall(value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{ticks}{pad}{value}{pad}{ticks}"


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        try:
            return json.dumps(json.loads(value), ensure_ascii=False, indent=2)
        except ValueError:
            return value
    return json.dumps(value, ensure_ascii=False, indent=2)


def _clip(text: str, limit: int = RESULT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[... {len(text) - limit:,} more characters in the JSON export ...]"


class _Transcript:
    def __init__(self, zone: dt.tzinfo) -> None:
        self.zone = zone
        self.out: list[str] = []
        self.answered = ""  # the last agent message of the turn (its response repeats it)
        self.partial: dict[str, list[str]] = {}  # streamed text not (yet) followed by a message

    def block(self, heading: str, ts: Any, body: str = "") -> None:
        when = _when(ts, self.zone)
        self.out.append(f"### {heading}" + (f" · {when}" if when else ""))
        if body:
            self.out.append(body)

    def event(self, event: Mapping[str, Any]) -> None:
        kind, ts = event.get("type"), event.get("ts")
        if kind == "delta":
            self.partial.setdefault(str(event.get("agent") or "assistant"), []).append(str(event.get("content", "")))
        elif kind == "user_message":
            self.answered, self.partial = "", {}
            self.block("User", ts, closed(str(event.get("content", ""))))
        elif kind == "agent_message":
            self.partial.pop(str(event.get("agent") or "assistant"), None)
            self.answered = str(event.get("content", ""))
            self.block(_inline(event.get("agent") or "assistant"), ts, closed(self.answered))
        elif kind == "response":
            content = str(event.get("content", ""))
            self.partial.pop(str(event.get("agent") or "assistant"), None)
            if content and content != self.answered:
                self.block(_inline(event.get("agent") or "assistant"), ts, closed(content))
        elif kind == "handoff":
            self.out.append(f"*{_inline(event.get('agent'))} handed over to {_inline(event.get('target'))}*")
        elif kind == "tool_call":
            who = f" by {_inline(event['agent'])}" if event.get("agent") else ""
            body = fenced(_arguments(event.get("arguments", {})), "json")
            self.block(f"Tool call {_inline(event.get('name'))}{who}", ts, body)
        elif kind == "tool_result":
            label = "Tool error" if event.get("is_error") else "Tool result"
            self.block(
                f"{label} {_inline(event.get('name'))}", ts, fenced(_clip(str(event.get("content", ""))), "text")
            )
        elif kind == "question":
            options = event.get("options") or []
            listed = "".join(f"\n- {' '.join(str(o).split())}" for o in options if isinstance(o, str))
            self.block("Question to the user", ts, closed(str(event.get("content", ""))) + listed)
        elif kind == "question_closed":
            answer = event.get("answer")
            text = closed(answer) if isinstance(answer, str) else f"*({event.get('status', 'closed')})*"
            self.block("Answer", ts, text)
        else:
            self.other(kind, event)

    def other(self, kind: Any, event: Mapping[str, Any]) -> None:
        ts = event.get("ts")
        if kind == "done":
            for agent, pieces in self.partial.items():
                text = "".join(pieces)
                if text.strip():
                    self.block(f"{_inline(agent)} (unfinished)", None, closed(text))
            self.partial = {}
            if event.get("status") != "ok":
                self.out.append(f"*Turn ended: {event.get('status')}*")
        elif kind in ("error", "warning"):
            self.out.append(
                f"> **{kind}** {_inline(event.get('code') or kind)}: {' '.join(str(event.get('message', '')).split())}"
            )
        elif kind == "reminder":
            self.block("Reminder", ts, closed(str(event.get("message", ""))))
        elif kind == "file":
            self.out.append(f"*File uploaded: {_inline(event.get('name'))} ({event.get('size', '?')} bytes)*")
        elif kind == "summary":
            self.out.append(f"*Older turns of {_inline(event.get('agent'))} were folded into the summary*")
        elif kind == "reset":
            self.out.append("*The conversation was reset*")
        elif kind == "workflow_run" and event.get("status") != "running":
            self.out.append(f"*Workflow {_inline(event.get('workflow_id'))} {event.get('status')}*")


def render_markdown(document: Mapping[str, Any]) -> str:
    """The transcript of an export document (:func:`transfer_format.build_document`)."""
    meta = document.get("session") or {}
    zone = _zone(meta.get("timezone"))
    title = " ".join(str(meta.get("title") or "Untitled session").split())
    lines = [f"# {title}", ""]
    facts = [f"- Session {_inline(meta.get('id'))}", f"- Exported {_when(document.get('exported_at'), zone)}"]
    if meta.get("created_at") is not None:
        facts.append(f"- Created {_when(meta.get('created_at'), zone)}")
    facts.append(f"- Time zone {_inline(meta.get('timezone') or 'UTC')}")
    lines += [*facts, ""]
    summaries: Sequence[Mapping[str, Any]] = (document.get("context") or {}).get("summaries") or []
    for item in summaries:
        lines += [
            f"## Summary of earlier turns ({_inline(item.get('agent'))})",
            "",
            closed(str(item.get("summary"))),
            "",
        ]
    todos: Sequence[Mapping[str, Any]] = document.get("todos") or []
    if todos:
        lines += ["## Todos", ""]
        for todo in todos:
            mark = "x" if todo.get("status") == "done" else " "
            due = f" (due {' '.join(str(todo['due']).split())})" if todo.get("due") else ""
            lines.append(f"- [{mark}] {' '.join(str(todo.get('title', '')).split())}{due}")
        lines.append("")
    lines += ["## Conversation", ""]
    transcript = _Transcript(zone)
    for event in document.get("events") or []:
        transcript.event(event)
    transcript.other("done", {"status": "ok"})  # streamed text of a turn that never ended
    for part in transcript.out:
        lines += [part, ""]
    return "\n".join(lines).rstrip("\n") + "\n"
