"""The session export document (docs/export-format.md): building it, checking one that comes back,
and the context note an imported session's team starts from. Pure: no store, no I/O.

A document is ``{"format": "agentchat-session", "version": 1, "exported_at", "session",
"events", "context", "todos"}``. :func:`parse_document` accepts only that format and version and
refuses anything it could not store faithfully (events out of order, unknown event types, fields of
the wrong type, oversized fields) with an :class:`~backend.errors.TransferError` naming the first
problem, before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import TransferError
from ..protocol import TIMELINE_EVENTS

FORMAT = "agentchat-session"
VERSION = 1

MAX_EVENTS = 100_000
#: the longest string an event may hold anywhere (a long tool result or reply is far shorter)
MAX_TEXT_CHARS = 1_000_000
#: more characters than a token ever holds in practice: longer text is cut before it is counted
CHARS_PER_TOKEN = 16
#: identifiers and names: agent, tool name, call id, code, status, ...
MAX_NAME_CHARS = 200
MAX_SUMMARY_CHARS = 200_000
MAX_TODOS = 1_000
MAX_CONTEXT_AGENTS = 64
TITLE_CHARS = 200
TIMEZONE_CHARS = 64
TODO_LIMITS = {"title": 200, "notes": 4000, "due": 100}
TODO_STATUSES = ("open", "done")
TODO_PRIORITIES = ("low", "normal", "high")

_STR = (str,)
_OPT_STR = (str, type(None))
_NUM = (int, float)
_OPT_NUM = (int, float, type(None))
_BOOL = (bool,)
_OBJ = (dict,)
_LIST = (list,)

#: per event type: field -> (allowed JSON types, required). Other fields are kept as they are.
EVENT_FIELDS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "user_message": {"content": (_STR, True), "message_id": (_OPT_STR, False), "client_id": (_OPT_STR, False)},
    "queued": {"message_id": (_OPT_STR, False), "position": (_NUM, False)},
    "delta": {"agent": (_OPT_STR, False), "content": (_STR, True)},
    "agent_message": {"agent": (_OPT_STR, False), "content": (_STR, True)},
    "handoff": {"agent": (_OPT_STR, False), "target": (_OPT_STR, False), "content": (_OPT_STR, False)},
    "tool_call": {"id": (_OPT_STR, False), "agent": (_OPT_STR, False), "name": (_STR, True)},
    "tool_result": {
        "id": (_OPT_STR, False),
        "agent": (_OPT_STR, False),
        "name": (_OPT_STR, False),
        "content": (_STR, True),
        "is_error": (_BOOL, False),
        "duration_ms": (_OPT_NUM, False),
    },
    "response": {"content": (_STR, True), "agent": (_OPT_STR, False)},
    "done": {"status": (_STR, True), "usage": (_OBJ, False), "duration_ms": (_OPT_NUM, False)},
    "error": {"code": (_OPT_STR, False), "message": (_STR, True)},
    "warning": {"code": (_OPT_STR, False), "message": (_STR, True), "agent": (_OPT_STR, False)},
    "question": {"question_id": (_STR, True), "content": (_STR, True), "options": ((list, type(None)), False)},
    "question_closed": {"question_id": (_STR, True), "status": (_STR, True), "answer": (_OPT_STR, False)},
    "reminder": {"message": (_STR, True), "due": (_OPT_STR, False), "late": (_BOOL, False)},
    "todos": {"todos": (_LIST, True)},
    "reminders": {"reminders": (_LIST, True)},
    "context": {"agent": (_OPT_STR, False)},
    "summary": {"agent": (_OPT_STR, False)},
    "file": {"name": (_STR, True), "size": (_NUM, False), "paths": (_LIST, False)},
    "workflow_run": {"run_id": (_STR, True), "status": (_STR, True)},
    "node_run": {"run_id": (_STR, True), "node_id": (_STR, True), "status": (_STR, True)},
}
#: fields that name things: short
NAME_FIELDS = frozenset(
    {"agent", "target", "id", "name", "code", "status", "message_id", "client_id", "question_id", "run_id", "node_id"}
)
#: fields of the envelope, rewritten on import
ENVELOPE = ("type", "session_id", "seq", "ts")


@dataclass(frozen=True, slots=True)
class ImportedTodo:
    title: str
    notes: str | None
    due: str | None
    priority: str
    status: str
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class ImportedSession:
    """A checked document: what an import stores (events without their envelope's session/seq)."""

    title: str | None
    timezone: str | None
    created_at: float | None
    events: list[dict[str, Any]]
    summaries: list[tuple[str, str]]  # (agent, rolling summary)
    todos: list[ImportedTodo]
    source_id: str | None


# --- export ---------------------------------------------------------------------------------------


def build_document(
    *,
    session_id: str,
    title: str | None,
    timezone: str | None,
    created_at: float,
    exported_at: float,
    events: Sequence[Mapping[str, Any]],
    summaries: Sequence[Mapping[str, Any]],
    todos: Sequence[Mapping[str, Any]],
    budget: int,
) -> dict[str, Any]:
    """The export document of one session (the timeline exactly as clients got it)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": round(exported_at, 3),
        "session": {"id": session_id, "title": title, "timezone": timezone, "created_at": created_at},
        "events": list(events),
        "context": {"budget": budget, "summaries": list(summaries)},
        "todos": list(todos),
    }


def summaries_from_state(state: Any) -> list[dict[str, Any]]:
    """The rolling summary of each agent in a saved team state (AutoGen's ``save_state`` JSON:
    ``agent_states.<agent>....llm_context.summary``), agents without one left out."""
    out: list[dict[str, Any]] = []
    agents = state.get("agent_states") if isinstance(state, dict) else None
    if not isinstance(agents, dict):
        return out
    for agent, agent_state in agents.items():
        context = _find_key(agent_state, "llm_context", depth=6)
        if isinstance(context, dict) and isinstance(context.get("summary"), str) and context["summary"]:
            folded = context.get("summarized_messages")
            out.append(
                {
                    "agent": str(agent),
                    "summary": context["summary"],
                    "summarized_messages": folded if isinstance(folded, int) else 0,
                }
            )
    return out


def _find_key(value: Any, key: str, *, depth: int) -> Any:
    if depth < 0 or not isinstance(value, dict):
        return None
    if key in value:
        return value[key]
    for child in value.values():
        found = _find_key(child, key, depth=depth - 1)
        if found is not None:
            return found
    return None


# --- import: checking a document --------------------------------------------------------------------


def _fail(message: str, code: str = "bad_import") -> TransferError:
    return TransferError(message, status=400, code=code)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _typed(value: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in kinds:
        return False  # JSON true is not a number
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, kinds)


def _short(value: Any, where: str, limit: int, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _fail(f"{where} must be a string")
    if len(value) > limit:
        raise _fail(f"{where} is longer than {limit} characters", "too_large")
    return value


def _check_strings(value: Any, where: str, limit: int) -> None:
    """Every string inside ``value`` is at most ``limit`` characters (iterative: no recursion)."""
    stack = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if len(item) > limit:
                raise _fail(f"{path} is longer than {limit} characters", "too_large")
        elif isinstance(item, dict):
            stack.extend((v, f"{path}.{k}") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            raise _fail(f"{path} is not a finite number")


def check_event(raw: Any, index: int, previous_seq: int) -> dict[str, Any]:
    """One exported event, checked; returned without ``session_id`` (the import sets its own)."""
    where = f"events[{index}]"
    if not isinstance(raw, dict):
        raise _fail(f"{where} must be an object")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in TIMELINE_EVENTS:
        shown = kind[:40] if isinstance(kind, str) else type(kind).__name__
        raise _fail(f"{where}.type {shown!r} is not a timeline event type", "unknown_event_type")
    seq = raw.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise _fail(f"{where}.seq must be a positive integer")
    if seq <= previous_seq:
        what = "repeats" if seq == previous_seq else "goes back to"
        raise _fail(f"{where}.seq {what} {seq} after {previous_seq}: events must be in order", "events_out_of_order")
    if not _number(raw.get("ts")):
        raise _fail(f"{where}.ts must be a number (seconds since the epoch)")
    for name, (kinds, required) in EVENT_FIELDS.get(kind, {}).items():
        if name not in raw:
            if required:
                raise _fail(f"{where} ({kind}) has no {name!r}")
            continue
        if not _typed(raw[name], kinds):
            raise _fail(f"{where}.{name} has the wrong type for a {kind} event ({type(raw[name]).__name__})")
    for name in NAME_FIELDS & raw.keys():
        if isinstance(raw[name], str) and len(raw[name]) > MAX_NAME_CHARS:
            raise _fail(f"{where}.{name} is longer than {MAX_NAME_CHARS} characters", "too_large")
    body = {k: v for k, v in raw.items() if k not in ENVELOPE}
    _check_strings(body, where, MAX_TEXT_CHARS)
    return {"type": kind, "seq": seq, "ts": raw["ts"], **body}


def _check_todo(raw: Any, index: int) -> ImportedTodo:
    where = f"todos[{index}]"
    if not isinstance(raw, dict):
        raise _fail(f"{where} must be an object")
    title = _short(raw.get("title"), f"{where}.title", TODO_LIMITS["title"], optional=False)
    if not title or not title.strip():
        raise _fail(f"{where}.title must not be empty")
    priority = raw.get("priority", "normal")
    status = raw.get("status", "open")
    if priority not in TODO_PRIORITIES:
        raise _fail(f"{where}.priority must be one of {', '.join(TODO_PRIORITIES)}")
    if status not in TODO_STATUSES:
        raise _fail(f"{where}.status must be one of {', '.join(TODO_STATUSES)}")
    created, updated = raw.get("created_at"), raw.get("updated_at")
    for name, value in (("created_at", created), ("updated_at", updated)):
        if value is not None and not _number(value):
            raise _fail(f"{where}.{name} must be a number")
    return ImportedTodo(
        title=title,
        notes=_short(raw.get("notes"), f"{where}.notes", TODO_LIMITS["notes"]),
        due=_short(raw.get("due"), f"{where}.due", TODO_LIMITS["due"]),
        priority=str(priority),
        status=str(status),
        created_at=float(created) if created is not None else 0.0,
        updated_at=float(updated if updated is not None else created or 0.0),
    )


def _check_summaries(context: Any) -> list[tuple[str, str]]:
    if context is None:
        return []
    if not isinstance(context, dict):
        raise _fail("context must be an object")
    raw = context.get("summaries", [])
    if not isinstance(raw, list) or len(raw) > MAX_CONTEXT_AGENTS:
        raise _fail(f"context.summaries must be a list of at most {MAX_CONTEXT_AGENTS} objects")
    out = []
    for i, item in enumerate(raw):
        where = f"context.summaries[{i}]"
        if not isinstance(item, dict):
            raise _fail(f"{where} must be an object")
        agent = _short(item.get("agent"), f"{where}.agent", MAX_NAME_CHARS) or "assistant"
        summary = _short(item.get("summary"), f"{where}.summary", MAX_SUMMARY_CHARS, optional=False) or ""
        out.append((agent, summary))
    return out


def parse_document(data: Any) -> ImportedSession:
    """Check an uploaded export; raise :class:`TransferError` (400) on the first problem."""
    if not isinstance(data, dict):
        raise _fail("an export must be a JSON object")
    if data.get("format") != FORMAT:
        raise _fail(f"not a session export: format must be {FORMAT!r}", "bad_format")
    version = data.get("version")
    if version != VERSION or isinstance(version, bool):
        raise _fail(
            f"unsupported export version {str(version)[:20]!r}: this server reads version {VERSION}", "bad_version"
        )
    meta = data.get("session")
    if not isinstance(meta, dict):
        raise _fail("session must be an object")
    created = meta.get("created_at")
    if created is not None and not _number(created):
        raise _fail("session.created_at must be a number")
    events = data.get("events")
    if not isinstance(events, list):
        raise _fail("events must be a list")
    if len(events) > MAX_EVENTS:
        raise _fail(f"more than {MAX_EVENTS} events", "too_large")
    checked, last = [], 0
    for index, raw in enumerate(events):
        event = check_event(raw, index, last)
        last = event["seq"]
        checked.append(event)
    todos = data.get("todos", [])
    if not isinstance(todos, list) or len(todos) > MAX_TODOS:
        raise _fail(f"todos must be a list of at most {MAX_TODOS} objects")
    title = _short(meta.get("title"), "session.title", TITLE_CHARS)
    source = meta.get("id")
    return ImportedSession(
        title=" ".join(title.split()) or None if title else None,
        timezone=_short(meta.get("timezone"), "session.timezone", TIMEZONE_CHARS),
        created_at=float(created) if created is not None else None,
        events=checked,
        summaries=_check_summaries(data.get("context")),
        todos=[_check_todo(item, i) for i, item in enumerate(todos)],
        source_id=source[:MAX_NAME_CHARS] if isinstance(source, str) else None,
    )


def renumbered(events: Sequence[Mapping[str, Any]], session_id: str) -> list[dict[str, Any]]:
    """The events of a new session: its id, ``seq`` from 1 without gaps, original times and fields,
    keys in the order the hub writes them (``type, session_id, seq, ts``, then the payload)."""
    out = []
    for seq, event in enumerate(events, start=1):
        payload = {k: v for k, v in event.items() if k not in ENVELOPE}
        out.append({"type": event["type"], "session_id": session_id, "seq": seq, "ts": event["ts"], **payload})
    return out


# --- import: the team's context ---------------------------------------------------------------------


def conversation_lines(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """What was said, one entry per message: the user's messages, the agents' final answers, the
    team's questions and the user's answers (tool traffic and stream chunks left out); only what
    came after the last ``reset`` (the team had forgotten the rest)."""
    lines: list[str] = []
    resets = [i for i, event in enumerate(events) if event.get("type") == "reset"]
    for event in events[resets[-1] + 1 if resets else 0 :]:
        kind = event.get("type")
        if kind == "user_message":
            lines.append(f"user: {event['content']}")
        elif kind == "response" and event.get("content"):
            lines.append(f"{event.get('agent') or 'assistant'}: {event['content']}")
        elif kind == "question":
            lines.append(f"question to the user: {event['content']}")
        elif kind == "question_closed" and isinstance(event.get("answer"), str):
            lines.append(f"user's answer: {event['answer']}")
    return lines


def context_note(
    imported: ImportedSession,
    budget_tokens: int,
    count: Callable[[str], int],
    truncate: Callable[[str, int], str],
) -> str:
    """The note the imported session's first turn carries: the rolling summary and as many of the
    most recent messages as fit, at most ``budget_tokens`` tokens (by ``count``) in all. Cheap enough
    for the event loop (the tokenizer may not be shared with threads): only what can fit is counted."""
    head = "[This conversation was imported from an export. What was said before it, oldest first:]"
    used = count(head) + 1
    parts: list[str] = []
    clip = max(budget_tokens, 1) * CHARS_PER_TOKEN  # no text is counted whole: bounded work per line
    summary = "\n".join(text for _, text in imported.summaries if text)[:clip]
    if summary:
        summary_text = truncate(f"Summary of earlier turns: {summary}", max(0, budget_tokens // 2 - used))
        if summary_text:
            parts.append(summary_text)
            used += count(summary_text) + 1
    recent: list[str] = []
    for whole in reversed(conversation_lines(imported.events)):
        line = whole[:clip]
        cost = count(line) + 1
        if used + cost > budget_tokens:
            room = budget_tokens - used - 1
            if not recent and room > 16:  # the latest message alone is too long: keep its beginning
                recent.append(truncate(line, room))
            break
        recent.append(line)
        used += cost
    note = "\n".join([head, *parts, *reversed(recent)])
    while recent and count(note) > budget_tokens:  # seams between lines counted differently: stay safe
        recent.pop()
        note = "\n".join([head, *parts, *reversed(recent)])
    return note if parts or recent else ""
