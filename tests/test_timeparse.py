"""timeparse: English/Chinese phrasings in a user's zone, errors, recurrence and formatting."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from backend.timeparse import (
    TimeParseError,
    anchored,
    describe_repeat,
    first_occurrence,
    format_delta,
    format_time,
    next_occurrence,
    normalise,
    normalise_repeat,
    parse_datetime,
    parse_when,
    resolve_timezone,
)

ZONES = ["Asia/Shanghai", "America/New_York"]


def at(tz: str, *args: int, fold: int = 0) -> float:
    """Epoch seconds of a wall-clock time in ``tz``."""
    return datetime(*args, tzinfo=ZoneInfo(tz), fold=fold).timestamp()


def local(epoch: float, tz: str) -> tuple[int, ...]:
    d = datetime.fromtimestamp(epoch, ZoneInfo(tz))
    return (d.year, d.month, d.day, d.hour, d.minute, d.second)


# Wednesday 2026-11-18 10:00:00 local time.
WED = (2026, 11, 18, 10, 0)

PHRASES = [
    ("2026-11-22T09:00", (2026, 11, 22, 9, 0, 0)),
    ("in 10 minutes", (2026, 11, 18, 10, 10, 0)),
    ("in 2 seconds", (2026, 11, 18, 10, 0, 2)),
    ("tomorrow at 9am", (2026, 11, 19, 9, 0, 0)),
    ("明天早上9点", (2026, 11, 19, 9, 0, 0)),
    ("下周一下午3点", (2026, 11, 23, 15, 0, 0)),
    ("10分钟后", (2026, 11, 18, 10, 10, 0)),
    ("半小时后", (2026, 11, 18, 10, 30, 0)),
    ("15:30", (2026, 11, 18, 15, 30, 0)),  # later today (dateparser alone says tomorrow off UTC)
    ("9am", (2026, 11, 19, 9, 0, 0)),  # already past today -> tomorrow
    ("in half an hour", (2026, 11, 18, 10, 30, 0)),
    ("friday", (2026, 11, 20, 9, 0, 0)),  # a bare day means 09:00
    ("一个半小时后", (2026, 11, 18, 11, 30, 0)),
    ("两个小时后", (2026, 11, 18, 12, 0, 0)),
    ("一刻钟后", (2026, 11, 18, 10, 15, 0)),
    ("2 秒后", (2026, 11, 18, 10, 0, 2)),
    ("今晚8点", (2026, 11, 18, 20, 0, 0)),
    ("明天下午三点半", (2026, 11, 19, 15, 30, 0)),
    ("后天上午10点", (2026, 11, 20, 10, 0, 0)),
    ("明天中午12点", (2026, 11, 19, 12, 0, 0)),
    ("周五下午3点", (2026, 11, 20, 15, 0, 0)),
    ("下周五", (2026, 11, 27, 9, 0, 0)),
    ("下星期三 晚上7点30分", (2026, 11, 25, 19, 30, 0)),
    ("下午 3:30", (2026, 11, 18, 15, 30, 0)),
]


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize(("text", "expected"), PHRASES)
def test_phrases_in_the_users_zone(tz: str, text: str, expected: tuple[int, ...]) -> None:
    """Each supported phrasing gives the expected wall-clock time in the user's zone."""
    now = at(tz, *WED)
    result = parse_when(text, tz, now=now)
    assert result.tzinfo is not None
    assert local(result.timestamp(), tz) == expected


def test_explicit_offset_wins_over_the_users_zone() -> None:
    """An ISO time with its own offset is that instant, shown in the user's zone."""
    text = "2026-11-22 09:00+08:00"
    shanghai = parse_when(text, "Asia/Shanghai", now=at("Asia/Shanghai", *WED))
    new_york = parse_when(text, "America/New_York", now=at("America/New_York", *WED))
    assert shanghai.timestamp() == new_york.timestamp() == at("UTC", 2026, 11, 22, 1, 0)
    assert local(new_york.timestamp(), "America/New_York") == (2026, 11, 21, 20, 0, 0)


def test_relative_phrases_do_not_depend_on_the_process_zone() -> None:
    """'in 10 minutes' is exactly 600 s later whatever the zone."""
    for tz in [*ZONES, "UTC", "Asia/Kolkata"]:
        now = at(tz, *WED) + 0.25
        assert parse_when("in 10 minutes", tz, now=now).timestamp() == pytest.approx(now + 600)


def test_durations_are_exact_across_a_dst_change() -> None:
    """Sub-day durations are real time: 'in 10 minutes' at 01:55 on a fall-back night is 02:05 UTC-wise."""
    tz = "America/New_York"
    first_0155 = at(tz, 2026, 11, 1, 1, 55, fold=0)  # EDT
    second_0130 = at(tz, 2026, 11, 1, 1, 30, fold=1)  # EST, an hour after the first 01:30
    assert parse_when("in 10 minutes", tz, now=first_0155).timestamp() == first_0155 + 600
    assert parse_when("10分钟后", tz, now=second_0130).timestamp() == second_0130 + 600


@pytest.mark.parametrize("text", ["blorp", "   ", "", "asdf qwerty", "in 10 minutes " * 100])
def test_junk_is_a_clear_error(text: str) -> None:
    """Unreadable input raises TimeParseError (a ToolError) with examples of what works."""
    with pytest.raises(TimeParseError) as info:
        parse_when(text, "Asia/Shanghai", now=at("Asia/Shanghai", *WED))
    assert "in 10 minutes" in info.value.message
    assert info.value.code == "bad_time"


def test_junk_message_quotes_the_input() -> None:
    """The message names what could not be understood."""
    with pytest.raises(TimeParseError) as info:
        parse_when("blorp", "UTC", now=1_800_000_000.0)
    assert info.value.message.startswith("I could not understand the time 'blorp'. Try 'in 10 minutes'")


@pytest.mark.parametrize("text", ["2020-01-01 09:00", "今天早上8点", "today at 9am"])
def test_past_times_are_refused_with_the_time_understood(text: str) -> None:
    """A time in the past is an error that shows what it was read as."""
    tz = "Asia/Shanghai"
    with pytest.raises(TimeParseError, match="in the past") as info:
        parse_when(text, tz, now=at(tz, *WED))
    assert tz in info.value.message


def test_parse_datetime_allows_past_and_reports_day_only() -> None:
    """parse_datetime (used for todo due dates) keeps past times and says whether a time was given."""
    tz = "Asia/Shanghai"
    now = at(tz, *WED)
    past = parse_datetime("2020-01-01", tz, now=now)
    assert past is not None and past.at.date() == date(2020, 1, 1) and not past.has_time
    timed = parse_datetime("friday 5pm", tz, now=now)
    assert timed is not None and timed.has_time and local(timed.epoch, tz)[:5] == (2026, 11, 20, 17, 0)
    assert parse_datetime("end of sprint", tz, now=now) is None


@pytest.mark.parametrize(
    ("today", "text", "expected"),
    [
        (date(2026, 11, 16), "下周一", "2026-11-23"),  # Monday: next week's Monday
        (date(2026, 11, 16), "下周五", "2026-11-27"),  # not this Friday (English "next friday" would be)
        (date(2026, 11, 22), "下周一", "2026-11-23"),  # Sunday: weeks start on Monday, so tomorrow
        (date(2026, 11, 18), "这周五", "2026-11-20"),
        (date(2026, 11, 18), "下个星期天", "2026-11-29"),
        (date(2026, 11, 18), "下礼拜二", "2026-11-24"),
    ],
)
def test_normalise_chinese_week_days(today: date, text: str, expected: str) -> None:
    """下周X / 这周X / 下个星期X become the ISO date of that day, weeks starting on Monday."""
    assert normalise(text, today) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("明天早上9点", "明天 09:00"),
        ("下午3点", "15:00"),
        ("晚上十点", "22:00"),
        ("中午1点", "13:00"),
        ("凌晨1点半", "01:30"),
        ("晚上12点", "00:00"),
        ("下午两点十五分", "14:15"),
        ("半小时后", "30分钟后"),
        ("半个小时后", "30分钟后"),
        ("两个半小时后", "150分钟后"),
        ("三个小时后", "3小时后"),
        ("十分钟后", "10分钟后"),
        ("今晚8点", "今天 20:00"),
        ("明早7点", "明天 07:00"),
        ("９点", "09:00"),  # full-width digits
        ("in half an hour", "in 30 minutes"),
        ("tomorrow at 9am", "tomorrow at 9am"),
        ("2026-11-22T09:00", "2026-11-22T09:00"),
        ("星期一", "星期一"),  # left for dateparser
    ],
)
def test_normalise_rewrites_only_what_dateparser_misses(text: str, expected: str) -> None:
    """normalise() turns Chinese clock/duration forms into ones dateparser reads and leaves others alone."""
    assert normalise(text, date(2026, 11, 18)) == expected


def test_resolve_timezone_prefers_valid_candidates() -> None:
    """The first valid IANA name wins; junk is skipped; with none, the server's zone (a valid name)."""
    assert resolve_timezone("Asia/Shanghai", "America/New_York") == "Asia/Shanghai"
    assert resolve_timezone("Mars/Olympus", "America/New_York") == "America/New_York"
    assert resolve_timezone(None, "../etc/passwd", "UTC") == "UTC"
    fallback = resolve_timezone(None, None)
    assert ZoneInfo(fallback) is not None


def test_unknown_zone_is_an_error() -> None:
    """parse_when in an unknown zone is a TimeParseError, not a crash."""
    with pytest.raises(TimeParseError, match="Unknown time zone"):
        parse_when("in 10 minutes", "Mars/Olympus", now=1_800_000_000.0)


# --- recurrence ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("", None),
        ("none", None),
        ("daily", "daily"),
        ("Every Day", "daily"),
        ("每天", "daily"),
        ("HOURLY", "hourly"),
        ("weekly", "weekly"),
        ("工作日", "weekdays"),
        ("weekdays", "weekdays"),
        ("0 9 * * 1-5", "0 9 * * 1-5"),
        ("  0   9 * *  1-5 ", "0 9 * * 1-5"),
        ("@daily", "@daily"),
    ],
)
def test_normalise_repeat_accepts_keywords_and_cron(text: str | None, expected: str | None) -> None:
    """Keywords (English/Chinese) map to canonical names; valid five-field cron is kept."""
    assert normalise_repeat(text) == expected


@pytest.mark.parametrize("text", ["fortnightly", "* * * * * *", "61 9 * * *", "0 9 * *", "every blue moon"])
def test_normalise_repeat_rejects_invalid(text: str) -> None:
    """Anything else is a TimeParseError that lists what is accepted."""
    with pytest.raises(TimeParseError, match="cron expression"):
        normalise_repeat(text)


def test_hourly_skips_missed_occurrences() -> None:
    """hourly: the next slot on the original grid strictly after now."""
    assert next_occurrence("hourly", 1_000.0, "UTC", after=1_000.0) == 4_600.0
    assert next_occurrence("hourly", 1_000.0, "UTC", after=10_000.0) == 11_800.0


def test_daily_keeps_wall_clock_time_across_fall_back() -> None:
    """daily at 09:00 New York stays 09:00 local when DST ends (UTC hour moves 13 -> 14)."""
    tz = "America/New_York"
    due = at(tz, 2026, 10, 31, 9, 0)
    nxt = next_occurrence("daily", due, tz, after=due)
    assert local(nxt, tz) == (2026, 11, 1, 9, 0, 0)
    assert nxt - due == 25 * 3600


def test_daily_keeps_wall_clock_time_across_spring_forward() -> None:
    """daily at 09:00 New York stays 09:00 local when DST starts (a 23-hour day)."""
    tz = "America/New_York"
    due = at(tz, 2026, 3, 7, 9, 0)
    nxt = next_occurrence("daily", due, tz, after=due + 60)
    assert local(nxt, tz) == (2026, 3, 8, 9, 0, 0)
    assert nxt - due == 23 * 3600


def test_daily_and_weekly_skip_to_the_first_slot_after_now() -> None:
    """Missed days/weeks are skipped, not replayed."""
    tz = "Asia/Shanghai"
    now = at(tz, *WED)
    assert local(next_occurrence("daily", at(tz, 2026, 11, 10, 9, 0), tz, after=now), tz) == (2026, 11, 19, 9, 0, 0)
    assert local(next_occurrence("daily", at(tz, 2026, 11, 10, 11, 0), tz, after=now), tz) == (2026, 11, 18, 11, 0, 0)
    monday = at(tz, 2026, 11, 2, 9, 0)
    assert local(next_occurrence("weekly", monday, tz, after=now), tz) == (2026, 11, 23, 9, 0, 0)


def test_weekdays_skip_the_weekend() -> None:
    """weekdays: Friday's occurrence is followed by Monday's."""
    tz = "Asia/Shanghai"
    friday = at(tz, 2026, 11, 20, 9, 0)
    assert local(next_occurrence("weekdays", friday, tz, after=friday), tz) == (2026, 11, 23, 9, 0, 0)


def test_cron_is_evaluated_in_the_reminders_zone() -> None:
    """'0 9 * * 1-5' means 09:00 local on weekdays, in either zone, also across DST start."""
    sh = "Asia/Shanghai"
    friday = at(sh, 2026, 11, 20, 10, 0)
    assert local(next_occurrence("0 9 * * 1-5", friday, sh, after=friday), sh) == (2026, 11, 23, 9, 0, 0)
    ny = "America/New_York"
    before_dst = at(ny, 2026, 3, 6, 10, 0)  # Friday, EST
    nxt = next_occurrence("0 9 * * 1-5", before_dst, ny, after=before_dst)
    assert local(nxt, ny) == (2026, 3, 9, 9, 0, 0)
    assert datetime.fromtimestamp(nxt, ZoneInfo("UTC")).hour == 13  # EDT


def test_first_occurrence() -> None:
    """Keywords fire first at `when`; cron fires at its first match at or after `when`."""
    tz = "Asia/Shanghai"
    now = at(tz, *WED)
    when = at(tz, 2026, 11, 18, 10, 10)
    assert first_occurrence(None, when, tz, now=now) == when
    assert first_occurrence("daily", when, tz, now=now) == when
    assert local(first_occurrence("0 9 * * 1-5", when, tz, now=now), tz) == (2026, 11, 19, 9, 0, 0)
    exact = at(tz, 2026, 11, 19, 9, 0)
    assert first_occurrence("0 9 * * 1-5", exact, tz, now=now) == exact


def test_describe_repeat() -> None:
    """Repeat rules read naturally in answers."""
    assert describe_repeat(None) == ""
    assert describe_repeat("daily") == "repeats daily"
    assert describe_repeat("weekdays") == "repeats on weekdays"
    assert describe_repeat("0 9 * * 1-5") == "repeats on cron '0 9 * * 1-5'"


# --- formatting ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0s"), (45, "45s"), (570, "9m 30s"), (600, "10m"), (7200, "2h"), (33240, "9h 14m"), (183600, "2d 3h"),
     (86400, "1d")],
)  # fmt: skip
def test_format_delta(seconds: float, expected: str) -> None:
    """Durations are short and human."""
    assert format_delta(seconds) == expected


def test_format_time_states_the_absolute_time_and_distance() -> None:
    """The answer format: weekday, date, time, zone and how far away."""
    tz = "Asia/Shanghai"
    now = at(tz, 2026, 11, 21, 23, 46)
    assert format_time(at(tz, 2026, 11, 22, 9, 0), tz, now=now) == "Sun 2026-11-22 09:00 Asia/Shanghai (in 9h 14m)"
    assert format_time(now + 2, tz, now=now) == "Sat 2026-11-21 23:46:02 Asia/Shanghai (in 2s)"
    assert format_time(now - 120, tz, now=now) == "Sat 2026-11-21 23:44 Asia/Shanghai (2m ago)"
    assert format_time(now, tz) == "Sat 2026-11-21 23:46 Asia/Shanghai"


def test_warm_up_is_harmless() -> None:
    """warm_up() loads dateparser's data without raising (the server may call it at start-up)."""
    from backend.timeparse import warm_up

    warm_up()


# --- wall-clock rules across DST (issue 12: a daily 02:30 New York reminder drifted to 03:30) -----------
NY = "America/New_York"


def fire_days(rule: str, first: float, tz: str, days: int) -> list[tuple[int, ...]]:
    """Fire a stored rule ``days`` times, each time from the occurrence before, as the scheduler does."""
    stored = anchored(rule, first, tz)
    assert stored is not None
    due, fired = first, []
    for _ in range(days):
        fired.append(local(due, tz))
        due = next_occurrence(stored, due, tz, after=due + 1)
    return fired


def test_daily_0230_survives_spring_forward() -> None:
    """02:30 does not exist on 2027-03-14: that day fires at 03:30, and every later day at 02:30 again."""
    fired = fire_days("daily", at(NY, 2027, 3, 12, 2, 30), NY, 5)
    assert [f[:5] for f in fired] == [
        (2027, 3, 12, 2, 30),
        (2027, 3, 13, 2, 30),
        (2027, 3, 14, 3, 30),
        (2027, 3, 15, 2, 30),
        (2027, 3, 16, 2, 30),
    ]


def test_daily_0230_survives_fall_back() -> None:
    """On 2027-11-07 the clocks go back: 02:30 happens once, and the next days stay at 02:30."""
    fired = fire_days("daily", at(NY, 2027, 11, 5, 2, 30), NY, 5)
    assert [f[3:5] for f in fired] == [(2, 30)] * 5
    assert [f[2] for f in fired] == [5, 6, 7, 8, 9]


def test_0130_on_the_fall_back_day_fires_once() -> None:
    """01:30 happens twice on 2027-11-07 (EDT, then EST): the reminder fires at the first only."""
    first = at(NY, 2027, 11, 6, 1, 30)
    stored = anchored("daily", first, NY)
    assert stored is not None
    on_the_day = next_occurrence(stored, first, NY, after=first + 1)
    assert on_the_day == at(NY, 2027, 11, 7, 1, 30, fold=0)
    after_that = next_occurrence(stored, on_the_day, NY, after=on_the_day + 1)
    assert local(after_that, NY)[:5] == (2027, 11, 8, 1, 30), "not again at the second 01:30"


def test_weekly_and_weekdays_keep_their_wall_clock_too() -> None:
    """weekly keeps its weekday and time, weekdays skips weekends, both across spring forward."""
    weekly = fire_days("weekly", at(NY, 2027, 3, 7, 2, 30), NY, 3)  # Sundays
    assert [f[:5] for f in weekly] == [(2027, 3, 7, 2, 30), (2027, 3, 14, 3, 30), (2027, 3, 21, 2, 30)]
    workdays = fire_days("weekdays", at(NY, 2027, 3, 12, 2, 30), NY, 3)  # Friday, Monday, Tuesday
    assert [f[:5] for f in workdays] == [(2027, 3, 12, 2, 30), (2027, 3, 15, 2, 30), (2027, 3, 16, 2, 30)]
