"""Reminder tools: schedule, list and cancel reminders that the scheduler later delivers.

Times are read in the client's zone (``deps.timezone``, else ``DEFAULT_TIMEZONE``, else the
server's zone) and every answer states the absolute time understood, so a misreading is caught.
Changes emit a ``reminders`` event with the session's scheduled reminders and wake the scheduler.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Annotated

from ..errors import ToolError
from ..store import ReminderRepo, ReminderRow, Store
from ..timeparse import (
    anchored,
    describe_repeat,
    first_occurrence,
    format_time,
    normalise_repeat,
    parse_when,
    resolve_timezone,
)
from .registry import ToolDeps

#: Replaced by tests to make "now" deterministic.
clock: Callable[[], float] = time.time

MESSAGE_MAX = 2000
MAX_SCHEDULED = 100
MAX_LISTED = 20
MESSAGE_SHOWN = 80


def _repo(deps: ToolDeps) -> ReminderRepo:
    store: Store = deps.store
    return store.reminders


def _tz(deps: ToolDeps) -> str:
    return resolve_timezone(deps.timezone, deps.settings.default_timezone)


async def _changed(deps: ToolDeps) -> None:
    deps.events.emit("reminders", reminders=[row.to_dict() for row in await _repo(deps).list(deps.session_id)])
    if deps.reminders is not None:
        deps.reminders.wake()


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def reminder_line(row: ReminderRow, *, now: float) -> str:
    """``#4 Sun 2026-11-22 09:00 Asia/Shanghai (in 9h 14m), repeats daily: Stand-up``."""
    when = format_time(row.due_at, row.timezone or "UTC", now=now)
    repeat = f", {describe_repeat(row.repeat)}" if row.repeat else ""
    return f"#{row.id} {when}{repeat}: {_clip(row.message, MESSAGE_SHOWN)}"


async def schedule_reminder(
    deps: ToolDeps,
    when: Annotated[
        str,
        "As said: 'in 10 minutes', '明天早上9点', ISO...",
    ],
    message: Annotated[str, "'/run <workflow>' runs a workflow"],
    repeat: Annotated[str | None, "daily, weekdays, cron..."] = None,
) -> str:
    """Schedule a reminder; relay the exact time it answers."""
    text = message.strip()
    if not text:
        raise ToolError("A reminder needs a message.")
    if len(text) > MESSAGE_MAX:
        raise ToolError(f"The message is too long ({len(text)} characters; at most {MESSAGE_MAX}).")
    repo = _repo(deps)
    if await repo.count(deps.session_id) >= MAX_SCHEDULED:
        raise ToolError(f"This session already has {MAX_SCHEDULED} scheduled reminders; cancel some first.")
    rule = normalise_repeat(repeat)
    tz = _tz(deps)
    now = clock()
    at = await asyncio.to_thread(parse_when, when, tz, now=now)
    due_at = first_occurrence(rule, at.timestamp(), tz, now=now)
    row = await repo.add(deps.session_id, text, due_at, timezone=tz, repeat=anchored(rule, due_at, tz), now=now)
    await _changed(deps)
    repeat_note = f", {describe_repeat(rule)}" if rule else ""
    return f"Reminder #{row.id} set for {format_time(due_at, tz, now=now)}{repeat_note}: {_clip(text, 200)}"


async def list_reminders(deps: ToolDeps) -> str:
    """List this session's scheduled reminders with their exact times."""
    repo = _repo(deps)
    total = await repo.count(deps.session_id)
    if total == 0:
        return "No reminders scheduled."
    now = clock()
    rows = await repo.list(deps.session_id, limit=MAX_LISTED)
    lines = [f"Reminders: {total} scheduled.", *(reminder_line(row, now=now) for row in rows)]
    if total > len(rows):
        lines.append(f"... and {total - len(rows)} later ones not shown.")
    return "\n".join(lines)


async def cancel_reminder(deps: ToolDeps, reminder_id: int) -> str:
    """Cancel a scheduled reminder (a repeating one stops for good)."""
    repo = _repo(deps)
    row = await repo.cancel(deps.session_id, reminder_id)
    if row is None:
        existing = await repo.get(deps.session_id, reminder_id)
        if existing is None:
            raise ToolError(f"There is no reminder #{reminder_id} in this session. Call list_reminders to see the ids.")
        state = "already fired" if existing.status == "fired" else f"already {existing.status}"
        raise ToolError(f"Reminder #{reminder_id} is {state}; there is nothing to cancel.")
    await _changed(deps)
    return f"Cancelled reminder {reminder_line(row, now=clock())}"


TOOLS = [schedule_reminder, list_reminders, cancel_reminder]
