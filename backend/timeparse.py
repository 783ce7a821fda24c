"""What people type for a time ("in 10 minutes", "明天早上9点", an ISO time), and recurrence rules.

Parsing is dateparser's (languages en+zh, ``PREFER_DATES_FROM="future"``). This module adds three
small things around it, each tested in ``tests/test_timeparse.py``:

1. :func:`normalise` rewrites common Chinese phrasings dateparser 1.5 misses ("下午3点" -> "15:00",
   "下周一" -> the ISO date of next week's Monday, "半小时后" -> "30分钟后", Chinese numerals ->
   digits) and "half an hour" -> "30 minutes". It rewrites, it does not parse.
2. Wall-clock parsing. dateparser 1.5 with ``TIMEZONE``/``TO_TIMEZONE`` and a ``RELATIVE_BASE``
   compares time-only phrases ("3pm") against the base as if it were UTC, so "15:30" at 10:00 in
   Shanghai lands on tomorrow and "9am" at 10:00 in New York lands in the past. So we hand
   dateparser the user's local wall-clock time as a naive ``RELATIVE_BASE`` with
   ``TIMEZONE="UTC"`` (no conversion at all) and localise the naive answer with :mod:`zoneinfo`.
   A phrase that carries its own offset ("...+08:00", "9am EST") comes back aware and is kept.
   Sub-day durations ("in 10 minutes") are applied in absolute time, so they are exact across a
   DST change.
3. Recurrence: "hourly" | "daily" | "weekly" | "weekdays" (anchored on the first occurrence's
   wall-clock time, DST-aware) or a five-field cron expression evaluated with croniter in the
   reminder's zone.

Everything takes ``now`` (epoch seconds) explicitly; nothing here reads the clock.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from dateparser.date import DateDataParser

from .errors import ToolError

logger = logging.getLogger(__name__)

LANGUAGES = ["en", "zh"]
#: A phrase that names only a day ("friday", "下周一", "2026-11-22") means this time of day.
DEFAULT_TIME_OF_DAY = time(9, 0)
REPEAT_KEYWORDS = ("hourly", "daily", "weekly", "weekdays")
#: Longer texts are not times (and would make dateparser slow).
MAX_TEXT = 200
HINT = "Try 'in 10 minutes', 'tomorrow at 9am', '明天早上9点' or an ISO time like 2026-11-22T09:00."


class TimeParseError(ToolError):
    """A time or recurrence rule could not be understood, or lies in the past."""

    code = "bad_time"


# --- time zones ---------------------------------------------------------------------------------
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; TimeParseError if there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeParseError(f"Unknown time zone {name!r}; use an IANA name like 'Asia/Shanghai'.") from exc


def is_timezone(name: str | None) -> bool:
    if not name:
        return False
    try:
        zone(name)
    except TimeParseError:
        return False
    return True


def local_timezone_name() -> str:
    """The server's own IANA zone name, else "UTC"."""
    try:
        import tzlocal

        name = tzlocal.get_localzone_name()
    except Exception:  # tzlocal raises assorted errors on odd systems
        logger.debug("could not determine the local time zone", exc_info=True)
        name = None
    return name if name is not None and is_timezone(name) else "UTC"


def resolve_timezone(*candidates: str | None) -> str:
    """The first valid IANA name among ``candidates`` (client zone, configured default), else local."""
    for name in candidates:
        if is_timezone(name):
            return str(name)
        if name:
            logger.warning("ignoring unknown time zone %r", name)
    return local_timezone_name()


# --- normalisation ------------------------------------------------------------------------------
_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3,  # noqa: RUF001 - a Chinese zero
    "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_CN_NUMBER = re.compile(
    r"([零〇一二两兩三四五六七八九十]+)(?=\s*(?:个|個|点|點|时|時|分|秒|小时|小時|天|刻|钟头|號|号|月))"
)
_HALF_HOUR = re.compile(r"半(?:个|個)?(?:小时|小時|钟头|鐘頭)")
_N_AND_HALF_HOURS = re.compile(r"(\d+)\s*(?:个|個)半(?:小时|小時|钟头|鐘頭)")
_QUARTERS = re.compile(r"(\d+)\s*刻钟")
_COUNTER = re.compile(r"(\d+)\s*(?:个|個)\s*(?=小时|小時|钟头|星期|礼拜|月)")
_SHORT_DAY = {"今晚": "今天晚上", "明晚": "明天晚上", "今早": "今天早上", "明早": "明天早上"}
_WEEK_DAY = re.compile(r"(下个?|下個|这个?|這個?|本|上个?|上個)(?:周|週|星期|礼拜|禮拜)([一二三四五六日天1-7])")
_WEEKDAY_INDEX = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_PERIOD = r"凌晨|早上|早晨|上午|中午|下午|傍晚|晚上|夜里|夜裡|夜间|晚|早"
_CLOCK = re.compile(
    rf"({_PERIOD})?\s*(\d{{1,2}})\s*(?:[点點时時]\s*(?:(半)|(\d{{1,2}})\s*分?|整|钟|鐘)?|:(\d{{2}}))(?![\d:])"
)
_PM = {"下午", "傍晚", "晚上", "夜里", "夜裡", "夜间", "晚"}
_EN = [(re.compile(r"\bhalf an hour\b", re.IGNORECASE), "30 minutes")]


def _cn_int(text: str) -> int:
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_CN_DIGITS.get(tens, 1) if tens else 1) * 10 + (_CN_DIGITS.get(ones, 0) if ones else 0)
    value = 0
    for ch in text:
        value = value * 10 + _CN_DIGITS[ch]
    return value


def _clock(match: re.Match[str]) -> str:
    period, hour_s, half, minute_s, colon_min = match.groups()
    if period is None and colon_min is not None:
        return match.group(0)  # a plain "15:30" is already fine for dateparser
    hour = int(hour_s)
    minute = 30 if half else int(minute_s or colon_min or 0)
    if (period in _PM and hour < 12) or (period == "中午" and hour < 6):
        hour += 12
    elif period in {"晚上", "夜里", "夜裡", "夜间", "凌晨"} and hour == 12:
        hour = 0  # midnight
    if hour > 23 or minute > 59:
        return match.group(0)
    return f" {hour:02d}:{minute:02d} "


def normalise(text: str, today: date) -> str:
    """Rewrite phrasings dateparser misses into ones it reads; ``today`` is the user's local date."""
    out = unicodedata.normalize("NFKC", text).strip()
    for pattern, repl in _EN:
        out = pattern.sub(repl, out)
    out = _CN_NUMBER.sub(lambda m: str(_cn_int(m.group(1))), out)
    out = _N_AND_HALF_HOURS.sub(lambda m: f"{int(m.group(1)) * 60 + 30}分钟", out)
    out = _HALF_HOUR.sub("30分钟", out)
    out = _QUARTERS.sub(lambda m: f"{int(m.group(1)) * 15}分钟", out)
    out = _COUNTER.sub(r"\1", out)
    for short, long in _SHORT_DAY.items():
        out = out.replace(short, long)

    def week_day(match: re.Match[str]) -> str:
        prefix, day = match.groups()
        weekday = _WEEKDAY_INDEX[day] if day in _WEEKDAY_INDEX else int(day) - 1
        weeks = 1 if prefix.startswith("下") else -1 if prefix.startswith("上") else 0
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=weeks)
        return f" {(monday + timedelta(days=weekday)).isoformat()} "

    out = _WEEK_DAY.sub(week_day, out)
    out = _CLOCK.sub(_clock, out)
    out = re.sub(r"(\d)\s+(?=[秒分小天周個个])", r"\1", out)  # "2 秒后" -> "2秒后"
    return re.sub(r"\s+", " ", out).strip()


# --- parsing ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ParsedTime:
    at: datetime  # aware, in the user's zone
    has_time: bool  # False when the text named only a day ("friday", "2026-11-22")

    @property
    def epoch(self) -> float:
        return self.at.timestamp()


def _dateparse(text: str, base: datetime) -> tuple[datetime | None, str | None]:
    settings = {
        "PREFER_DATES_FROM": "future",
        "TIMEZONE": "UTC",  # i.e. no conversion: we work in naive wall-clock time (see module doc)
        "RELATIVE_BASE": base,
        "RETURN_TIME_AS_PERIOD": True,
    }
    data = DateDataParser(languages=LANGUAGES, settings=settings).get_date_data(text)
    return data.date_obj, data.period


def parse_datetime(text: str, tz: str, *, now: float) -> ParsedTime | None:
    """Read ``text`` as a point in time in zone ``tz`` relative to ``now``; None if not understood.

    Past times are returned as they are (a todo may be overdue); see :func:`parse_when`.
    """
    z = zone(tz)
    if len(text) > MAX_TEXT:
        return None
    now_local = datetime.fromtimestamp(now, z)
    base = now_local.replace(tzinfo=None)
    cleaned = normalise(text, now_local.date())
    if not cleaned:
        return None
    result, period = _dateparse(cleaned, base)
    if result is None:
        return None
    has_time = period == "time"
    if result.tzinfo is not None:  # the text carried its own offset or zone name
        return ParsedTime(result.astimezone(z), has_time)
    offset = result - base
    if timedelta(0) < offset < timedelta(days=1):
        # Relative to now? Then a shifted base shifts the answer: apply it as a real duration.
        shift = timedelta(minutes=1)
        shifted, _ = _dateparse(cleaned, base + shift)
        if shifted is not None and shifted.tzinfo is None and shifted - result == shift:
            return ParsedTime(datetime.fromtimestamp(now + offset.total_seconds(), z), has_time)
    if not has_time and result.time() == time(0, 0):
        result = datetime.combine(result.date(), DEFAULT_TIME_OF_DAY)
    return ParsedTime(result.replace(tzinfo=z), has_time)


def warm_up() -> None:
    """Load dateparser's language data now (about 0.3 s, once) rather than in the first tool call."""
    parse_datetime("in 1 minute", "UTC", now=1_000_000_000.0)
    parse_datetime("明天早上9点", "UTC", now=1_000_000_000.0)


def parse_when(text: str, tz: str, *, now: float) -> datetime:
    """A future point in time for ``text``, or TimeParseError with a message the model can relay."""
    if not text or not text.strip():
        raise TimeParseError(f"No time given. {HINT}")
    parsed = parse_datetime(text, tz, now=now)
    if parsed is None:
        raise TimeParseError(f"I could not understand the time {text.strip()[:MAX_TEXT]!r}. {HINT}")
    if parsed.epoch <= now:
        raise TimeParseError(
            f"The time {text.strip()!r} means {format_time(parsed.epoch, tz)}, which is in the past. "
            "Give a future time."
        )
    return parsed.at


# --- recurrence ---------------------------------------------------------------------------------
_REPEAT_ALIASES = {
    "hourly": "hourly", "every hour": "hourly", "每小时": "hourly", "每小時": "hourly",
    "daily": "daily", "every day": "daily", "每天": "daily", "每日": "daily",
    "weekly": "weekly", "every week": "weekly", "每周": "weekly", "每週": "weekly", "每星期": "weekly",
    "weekdays": "weekdays", "every weekday": "weekdays", "workdays": "weekdays", "工作日": "weekdays",
    "每个工作日": "weekdays", "每個工作日": "weekdays",
}  # fmt: skip
_NO_REPEAT = {"", "none", "no", "never", "once", "不重复"}


def normalise_repeat(repeat: str | None) -> str | None:
    """Canonical rule ("daily", a cron expression, ...) or None; TimeParseError if invalid."""
    if repeat is None:
        return None
    text = " ".join(repeat.strip().split())
    if text.lower() in _NO_REPEAT:
        return None
    keyword = _REPEAT_ALIASES.get(text.lower())
    if keyword:
        return keyword
    fields = text.split()
    if (len(fields) == 5 or (len(fields) == 1 and text.startswith("@"))) and croniter.is_valid(text):
        return text
    raise TimeParseError(
        f"I could not understand the repeat rule {repeat!r}. Use hourly, daily, weekly, weekdays "
        "or a five-field cron expression like '0 9 * * 1-5' (09:00 on weekdays)."
    )


def _cron_after(expr: str, after: float, z: ZoneInfo) -> float:
    nxt: datetime = croniter(expr, datetime.fromtimestamp(after, z)).get_next(datetime)
    return nxt.timestamp()


def anchored(rule: str | None, first_due: float, tz: str) -> str | None:
    """The rule as stored: a wall-clock keyword rule keeps its first local time (``daily@2027-03-13T02:30:00``)
    so every later occurrence is computed from the rule, not from the previous (maybe DST-shifted) one."""
    if rule not in ("daily", "weekly", "weekdays"):
        return rule
    local = datetime.fromtimestamp(first_due, zone(tz)).replace(tzinfo=None)
    return f"{rule}@{local.isoformat(timespec='seconds')}"


def split_rule(repeat: str) -> tuple[str, datetime | None]:
    """``daily@2027-03-13T02:30:00`` -> ("daily", its local anchor); other rules -> (rule, None)."""
    base, _, anchor = repeat.partition("@")
    if base in REPEAT_KEYWORDS and anchor:
        try:
            return base, datetime.fromisoformat(anchor)
        except ValueError:
            return base, None
    return repeat, None


def next_occurrence(repeat: str, due_at: float, tz: str, *, after: float) -> float:
    """The first occurrence of ``repeat`` strictly after both ``due_at`` and ``after``.

    Keyword rules keep the rule's local wall-clock time (and weekday for "weekly") across DST
    changes: each occurrence is computed from the rule's anchor, never from the previous occurrence
    (on a spring-forward day 02:30 does not exist and fires at 03:30; the next day is 02:30 again; an
    ambiguous 01:30 on a fall-back day fires once, at the first). Missed occurrences are skipped, not
    replayed. Cron rules are evaluated in ``tz``.
    """
    z = zone(tz)
    threshold = max(due_at, after)
    rule, anchor_local = split_rule(repeat)
    if rule == "hourly":
        return due_at + (math.floor((threshold - due_at) / 3600) + 1) * 3600
    if rule in ("daily", "weekly", "weekdays"):
        anchor = anchor_local if anchor_local is not None else datetime.fromtimestamp(due_at, z).replace(tzinfo=None)
        wall = anchor.time()
        day = datetime.fromtimestamp(threshold, z).date() - timedelta(days=1)
        for _ in range(10):
            matches = (
                rule == "daily"
                or (rule == "weekly" and day.weekday() == anchor.weekday())
                or (rule == "weekdays" and day.weekday() < 5)
            )
            candidate = datetime.combine(day, wall, tzinfo=z).timestamp()  # fold=0: the first of two
            if matches and candidate > threshold:
                return candidate
            day += timedelta(days=1)
        raise AssertionError("unreachable: a matching day exists within 8 days")
    return _cron_after(repeat, threshold, z)


def first_occurrence(repeat: str | None, when: float, tz: str, *, now: float) -> float:
    """When a reminder first fires: ``when`` itself, or for cron the first match at or after it."""
    if repeat is None or split_rule(repeat)[0] in REPEAT_KEYWORDS:
        return when
    z = zone(tz)
    first = _cron_after(repeat, when - 0.001, z)
    return first if first > now else _cron_after(repeat, now, z)


def describe_repeat(repeat: str | None) -> str:
    if repeat is None:
        return ""
    repeat = split_rule(repeat)[0]
    if repeat in REPEAT_KEYWORDS:
        return "repeats " + ("on weekdays" if repeat == "weekdays" else repeat)
    return f"repeats on cron '{repeat}'"


# --- formatting ---------------------------------------------------------------------------------
def format_delta(seconds: float) -> str:
    """A short duration: "45s", "9m 30s", "10m", "2h", "9h 14m", "2d 3h"."""
    s = round(abs(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        minutes, secs = divmod(s, 60)
        return f"{minutes}m {secs}s" if secs and minutes < 10 else f"{minutes}m"
    if s < 86400:
        hours, rest = divmod(s, 3600)
        return f"{hours}h {rest // 60}m" if rest >= 60 else f"{hours}h"
    days, rest = divmod(s, 86400)
    return f"{days}d {rest // 3600}h" if rest >= 3600 else f"{days}d"


def format_time(epoch: float, tz: str, *, now: float | None = None) -> str:
    """ "Sat 2026-11-22 09:00 Asia/Shanghai (in 9h 14m)"; seconds shown only when not zero."""
    local = datetime.fromtimestamp(round(epoch), zone(tz))
    text = local.strftime("%a %Y-%m-%d %H:%M" if local.second == 0 else "%a %Y-%m-%d %H:%M:%S") + f" {tz}"
    if now is not None:
        delta = epoch - now
        text += f" (in {format_delta(delta)})" if delta >= 0 else f" ({format_delta(delta)} ago)"
    return text
