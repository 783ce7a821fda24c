"""Todo tools: one list per session, shared by every agent of the team and by the client panel.

Plain async functions: the team calls them through the registry and the session layer calls them
directly for the ``todo_*`` protocol messages. Every change emits a ``todos`` event carrying the
whole list, so the client panel stays live. Bad arguments raise ToolError with a message the
model can relay. Listings are one short line per todo and capped, to fit a 4096-token budget.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from ..errors import ToolError
from ..store import Store, TodoRepo, TodoRow
from ..timeparse import parse_datetime, resolve_timezone
from .registry import ToolDeps

#: Replaced by tests for deterministic "overdue" marks and due parsing.
clock: Callable[[], float] = time.time

MAX_LISTED = 30
TITLE_MAX = 200
NOTES_MAX = 4000
DUE_MAX = 100
TITLE_SHOWN = 80
NOTES_SHOWN = 40
PRIORITIES = ("low", "normal", "high")
STATUSES = ("open", "done")


def _repo(deps: ToolDeps) -> TodoRepo:
    store: Store = deps.store
    return store.todos


def _tz(deps: ToolDeps) -> str:
    return resolve_timezone(deps.timezone, deps.settings.default_timezone)


async def _emit(deps: ToolDeps) -> None:
    deps.events.emit("todos", todos=[row.to_dict() for row in await _repo(deps).list(deps.session_id)])


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned:
        raise ToolError("A todo needs a non-empty title.")
    if len(cleaned) > TITLE_MAX:
        raise ToolError(f"The title is too long ({len(cleaned)} characters; at most {TITLE_MAX}).")
    return cleaned


def _notes(notes: str) -> str | None:
    cleaned = notes.strip()
    if len(cleaned) > NOTES_MAX:
        raise ToolError(f"The notes are too long ({len(cleaned)} characters; at most {NOTES_MAX}).")
    return cleaned or None


def _priority(priority: str) -> str:
    cleaned = priority.strip().lower()
    if cleaned not in PRIORITIES:
        raise ToolError(f"Unknown priority {priority!r}: use low, normal or high.")
    return cleaned


def _status(status: str) -> str:
    cleaned = status.strip().lower()
    if cleaned not in STATUSES:
        raise ToolError(f"Unknown status {status!r}: use open or done.")
    return cleaned


async def _due(deps: ToolDeps, due: str) -> str | None:
    """An ISO date (or date-time with offset) when the text reads as a time, else the text itself."""
    cleaned = " ".join(due.split())
    if not cleaned:
        return None
    if len(cleaned) > DUE_MAX:
        raise ToolError(f"The due date is too long ({len(cleaned)} characters; at most {DUE_MAX}).")
    parsed = await asyncio.to_thread(parse_datetime, cleaned, _tz(deps), now=clock())
    if parsed is None:
        return cleaned  # free text such as "end of sprint" is kept as written
    return parsed.at.isoformat(timespec="minutes") if parsed.has_time else parsed.at.date().isoformat()


def _show_due(due: str, now: datetime) -> tuple[str, bool]:
    """("Fri 11-27 09:00", overdue?) for ISO values; free text as it is."""
    try:
        if "T" in due:
            when = datetime.fromisoformat(due)
            shown = when.strftime("%a %m-%d %H:%M" if when.year == now.year else "%a %Y-%m-%d %H:%M")
            return shown, when.timestamp() < now.timestamp()
        day = date.fromisoformat(due)
    except ValueError:
        return _clip(due, 30), False
    return day.strftime("%a %m-%d" if day.year == now.year else "%a %Y-%m-%d"), day < now.date()


def todo_line(row: TodoRow, *, now: float, tz: str) -> str:
    """One compact line: ``#3 [ ] Buy milk (due Fri 11-27 09:00, high) - notes: ...``."""
    local_now = datetime.fromtimestamp(now, ZoneInfo(tz))
    mark = "x" if row.status == "done" else " "
    extras: list[str] = []
    if row.due:
        shown, overdue = _show_due(row.due, local_now)
        extras.append(f"due {shown}" + (", overdue" if overdue and row.status == "open" else ""))
    if row.priority != "normal":
        extras.append(row.priority)
    line = f"#{row.id} [{mark}] {_clip(row.title, TITLE_SHOWN)}"
    if extras:
        line += f" ({', '.join(extras)})"
    if row.notes:
        line += f" - notes: {_clip(row.notes, NOTES_SHOWN)}"
    return line


def _missing(todo_id: int) -> ToolError:
    return ToolError(f"There is no todo #{todo_id} in this session. Call list_todos to see the ids.")


async def add_todo(
    deps: ToolDeps,
    title: str,
    notes: str | None = None,
    due: Annotated[str | None, "e.g. 'friday 5pm'"] = None,
    priority: Annotated[str | None, "low, normal, high"] = None,
) -> str:
    """Add a todo to the session's list; returns it with its id."""
    row = await _repo(deps).add(
        deps.session_id,
        _title(title),
        notes=_notes(notes) if notes is not None else None,
        due=await _due(deps, due) if due is not None else None,
        priority=_priority(priority) if priority is not None else "normal",
        now=clock(),
    )
    await _emit(deps)
    return f"Added {todo_line(row, now=clock(), tz=_tz(deps))}"


async def list_todos(
    deps: ToolDeps,
    status: Annotated[str | None, "open, done, all"] = None,
) -> str:
    """List the session's todos (open first)."""
    wanted = None if status is None or status.strip().lower() in ("", "all") else _status(status)
    repo = _repo(deps)
    counts = await repo.counts(deps.session_id)
    rows = await repo.list(deps.session_id, status=wanted, limit=MAX_LISTED)
    total = counts[wanted] if wanted else sum(counts.values())
    header = f"Todos: {counts['open']} open, {counts['done']} done."
    if not rows:
        return header if total or wanted else "No todos yet."
    now, tz = clock(), _tz(deps)
    lines = [header, *(todo_line(row, now=now, tz=tz) for row in rows)]
    if total > len(rows):
        more = f"... and {total - len(rows)} more not shown"
        lines.append(more + (" (list_todos with status='open' to see only open ones)." if not wanted else "."))
    return "\n".join(lines)


async def update_todo(  # noqa: PLR0917 - the tool's public signature
    deps: ToolDeps,
    todo_id: int,
    title: str | None = None,
    notes: Annotated[str | None, "'' clears"] = None,
    due: Annotated[str | None, "'' clears"] = None,
    priority: Annotated[str | None, "low, normal or high"] = None,
    status: Annotated[str | None, "open or done"] = None,
) -> str:
    """Change the given fields of a todo."""
    repo = _repo(deps)
    if await repo.get(deps.session_id, todo_id) is None:
        raise _missing(todo_id)
    changes: dict[str, str | None] = {}
    if title is not None:
        changes["title"] = _title(title)
    if notes is not None:
        changes["notes"] = _notes(notes)
    if due is not None:
        changes["due"] = await _due(deps, due)
    if priority is not None:
        changes["priority"] = _priority(priority)
    if status is not None:
        changes["status"] = _status(status)
    if not changes:
        raise ToolError("Nothing to update: give at least one of title, notes, due, priority or status.")
    row = await repo.update(deps.session_id, todo_id, changes, now=clock())
    if row is None:  # deleted meanwhile
        raise _missing(todo_id)
    await _emit(deps)
    return f"Updated {todo_line(row, now=clock(), tz=_tz(deps))}"


async def complete_todo(deps: ToolDeps, todo_id: int) -> str:
    """Mark a todo as done."""
    repo = _repo(deps)
    row = await repo.get(deps.session_id, todo_id)
    if row is None:
        raise _missing(todo_id)
    if row.status == "done":
        return f"Already done: {todo_line(row, now=clock(), tz=_tz(deps))}"
    updated = await repo.update(deps.session_id, todo_id, {"status": "done"}, now=clock())
    if updated is None:
        raise _missing(todo_id)
    await _emit(deps)
    return f"Completed {todo_line(updated, now=clock(), tz=_tz(deps))}"


async def delete_todo(deps: ToolDeps, todo_id: int) -> str:
    """Delete a todo (to finish one, use complete_todo)."""
    row = await _repo(deps).delete(deps.session_id, todo_id)
    if row is None:
        raise _missing(todo_id)
    await _emit(deps)
    return f"Deleted #{row.id}: {_clip(row.title, TITLE_SHOWN)}"


TOOLS = [add_todo, list_todos, update_todo, complete_todo, delete_todo]
