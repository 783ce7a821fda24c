"""Reminder tools through ToolDeps with a real Store: absolute times in answers, events, wake-ups, errors."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from backend.errors import ToolError
from backend.settings import Settings
from backend.store import Store
from backend.tools import reminders
from backend.tools.registry import ToolDeps, ToolRegistry
from backend.tools.reminders import cancel_reminder, list_reminders, schedule_reminder

TZ = "Asia/Shanghai"
NOW = datetime(2026, 11, 21, 23, 46, tzinfo=ZoneInfo(TZ)).timestamp()  # Saturday night


class Events:
    """A recording EventSink."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, dict[str, Any]]] = []

    def emit(self, type_: str, **fields: Any) -> None:
        self.emitted.append((type_, fields))

    def last_reminders(self) -> list[dict[str, Any]]:
        type_, fields = self.emitted[-1]
        assert type_ == "reminders"
        rows: list[dict[str, Any]] = fields["reminders"]
        return rows


class Waker:
    """A recording ReminderWaker."""

    def __init__(self) -> None:
        self.wakes = 0

    def wake(self) -> None:
        self.wakes += 1


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reminders, "clock", lambda: NOW)


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def waker() -> Waker:
    return Waker()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"DATA_DIR": str(tmp_path), "DEFAULT_TIMEZONE": "America/New_York"})


@pytest.fixture
def deps(store: Store, events: Events, waker: Waker, settings: Settings) -> ToolDeps:
    return ToolDeps(session_id="s1", settings=settings, store=store, events=events, reminders=waker, timezone=TZ)


@pytest.mark.parametrize("when", ["tomorrow at 9am", "明天早上9点", "2026-11-22T09:00", "2026-11-22 09:00+08:00"])
async def test_schedule_answers_with_the_absolute_time(
    deps: ToolDeps, store: Store, events: Events, waker: Waker, when: str
) -> None:
    """schedule_reminder states the absolute time understood, stores it as UTC epoch, emits and wakes."""
    answer = await schedule_reminder(deps, when, "stand-up")
    assert answer == "Reminder #1 set for Sun 2026-11-22 09:00 Asia/Shanghai (in 9h 14m): stand-up"
    row = await store.reminders.get("s1", 1)
    assert row is not None
    assert row.due_at == datetime(2026, 11, 22, 1, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    assert (row.timezone, row.repeat, row.status) == (TZ, None, "scheduled")
    [event] = events.last_reminders()
    assert event["id"] == 1 and event["due"] == "2026-11-22T09:00:00+08:00" and event["message"] == "stand-up"
    assert waker.wakes == 1


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("in 10 minutes", "Sat 2026-11-21 23:56 Asia/Shanghai (in 10m)"),
        ("in 2 seconds", "Sat 2026-11-21 23:46:02 Asia/Shanghai (in 2s)"),
        ("10分钟后", "Sat 2026-11-21 23:56 Asia/Shanghai (in 10m)"),
        ("半小时后", "Sun 2026-11-22 00:16 Asia/Shanghai (in 30m)"),
        ("下周一下午3点", "Mon 2026-11-23 15:00 Asia/Shanghai (in 1d 15h)"),
    ],
)
async def test_schedule_relative_and_chinese_phrases(deps: ToolDeps, when: str, expected: str) -> None:
    """Relative and Chinese phrasings are answered with the time they were read as."""
    assert await schedule_reminder(deps, when, "m") == f"Reminder #1 set for {expected}: m"


async def test_zone_falls_back_to_the_configured_default(store: Store, settings: Settings) -> None:
    """Without a (valid) client zone, DEFAULT_TIMEZONE is used and named in the answer."""
    for tz in (None, "Not/AZone"):
        deps = ToolDeps(session_id="s1", settings=settings, store=store, events=Events(), timezone=tz)
        answer = await schedule_reminder(deps, "2026-12-01 09:00", "x")
        assert "Tue 2026-12-01 09:00 America/New_York" in answer


async def test_repeat_rules(deps: ToolDeps, store: Store) -> None:
    """repeat is stored canonical (a wall-clock rule with its local anchor) and mentioned; cron starts at
    its first match at or after `when`."""
    daily = await schedule_reminder(deps, "tomorrow at 9am", "pills", repeat="every day")
    assert daily.endswith("(in 9h 14m), repeats daily: pills")
    cron = await schedule_reminder(deps, "in 10 minutes", "stand-up", repeat="0 9 * * 1-5")
    assert cron == (
        "Reminder #2 set for Mon 2026-11-23 09:00 Asia/Shanghai (in 1d 9h), repeats on cron '0 9 * * 1-5': stand-up"
    )
    rows = await store.reminders.list("s1")
    assert [r.repeat for r in rows] == ["daily@2026-11-22T09:00:00", "0 9 * * 1-5"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"when": "blorp", "message": "m"}, r"I could not understand the time 'blorp'\. Try 'in 10 minutes'"),
        ({"when": "2020-01-01 09:00", "message": "m"}, "in the past"),
        ({"when": "今天早上8点", "message": "m"}, "in the past"),
        ({"when": "in 10 minutes", "message": "  "}, "needs a message"),
        ({"when": "in 10 minutes", "message": "m" * 2001}, "too long"),
        ({"when": "in 10 minutes", "message": "m", "repeat": "fortnightly"}, "repeat rule"),
    ],
)
async def test_bad_arguments_raise_tool_error_and_schedule_nothing(
    deps: ToolDeps, store: Store, events: Events, waker: Waker, kwargs: dict[str, Any], message: str
) -> None:
    """Unreadable/past times, empty messages and bad repeat rules are ToolErrors; nothing changes."""
    with pytest.raises(ToolError, match=message):
        await schedule_reminder(deps, **kwargs)
    assert await store.reminders.list("s1", status=None) == []
    assert events.emitted == [] and waker.wakes == 0


async def test_list_reminders(deps: ToolDeps) -> None:
    """list_reminders shows scheduled reminders in due order with their absolute times."""
    assert await list_reminders(deps) == "No reminders scheduled."
    await schedule_reminder(deps, "tomorrow at 9am", "later", repeat="weekdays")
    await schedule_reminder(deps, "in 10 minutes", "sooner")
    assert (await list_reminders(deps)).splitlines() == [
        "Reminders: 2 scheduled.",
        "#2 Sat 2026-11-21 23:56 Asia/Shanghai (in 10m): sooner",
        "#1 Sun 2026-11-22 09:00 Asia/Shanghai (in 9h 14m), repeats on weekdays: later",
    ]


async def test_cancel_reminder(deps: ToolDeps, store: Store, events: Events, waker: Waker) -> None:
    """cancel_reminder cancels, emits the remaining list and wakes the scheduler; twice is an error."""
    await schedule_reminder(deps, "in 10 minutes", "tea")
    await schedule_reminder(deps, "in 20 minutes", "more tea")
    answer = await cancel_reminder(deps, 1)
    assert answer == "Cancelled reminder #1 Sat 2026-11-21 23:56 Asia/Shanghai (in 10m): tea"
    assert [r["id"] for r in events.last_reminders()] == [2]
    assert waker.wakes == 3
    row = await store.reminders.get("s1", 1)
    assert row is not None and row.status == "cancelled"
    with pytest.raises(ToolError, match="already cancelled"):
        await cancel_reminder(deps, 1)
    with pytest.raises(ToolError, match="no reminder #9"):
        await cancel_reminder(deps, 9)


async def test_cancel_fired_reminder_is_an_error(deps: ToolDeps, store: Store) -> None:
    """A reminder that already fired cannot be cancelled, and the model is told why."""
    await schedule_reminder(deps, "in 10 minutes", "tea")
    row = await store.reminders.get("s1", 1)
    assert row is not None
    await store.reminders.record_fire(row, fired_at=NOW + 600, next_due_at=None)
    with pytest.raises(ToolError, match="already fired"):
        await cancel_reminder(deps, 1)


async def test_other_sessions_cannot_cancel(deps: ToolDeps, store: Store, settings: Settings) -> None:
    """Reminders are per session: another session neither lists nor cancels them."""
    await schedule_reminder(deps, "in 10 minutes", "mine")
    other = ToolDeps(session_id="s2", settings=settings, store=store, events=Events(), timezone=TZ)
    assert await list_reminders(other) == "No reminders scheduled."
    with pytest.raises(ToolError, match="no reminder #1"):
        await cancel_reminder(other, 1)


async def test_works_without_a_scheduler(store: Store, settings: Settings) -> None:
    """deps.reminders may be None (no scheduler): scheduling still stores and emits."""
    events = Events()
    deps = ToolDeps(session_id="s1", settings=settings, store=store, events=events, timezone=TZ)
    await schedule_reminder(deps, "in 10 minutes", "x")
    assert len(events.last_reminders()) == 1


async def test_too_many_scheduled(deps: ToolDeps, store: Store) -> None:
    """A session cannot pile up more than MAX_SCHEDULED scheduled reminders."""
    for i in range(reminders.MAX_SCHEDULED):
        await store.reminders.add("s1", f"r{i}", NOW + 60 + i, timezone=TZ)
    with pytest.raises(ToolError, match="cancel some first"):
        await schedule_reminder(deps, "in 10 minutes", "one too many")


async def test_tool_contract_names_and_parameters() -> None:
    """The public tool names and parameters stay what models and clients rely on."""
    registry = ToolRegistry()
    registry.register_all(reminders.TOOLS, group="reminders")
    params = {spec.name: list(spec.parameters_schema()["properties"]) for spec in registry.specs()}
    assert params == {
        "schedule_reminder": ["when", "message", "repeat"],
        "list_reminders": [],
        "cancel_reminder": ["reminder_id"],
    }
    assert registry.get("schedule_reminder").parameters_schema()["required"] == ["when", "message"]
