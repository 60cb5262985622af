"""Calendar arithmetic for recurring work: weekly fire times and Dutch public holidays.

This is the only module that imports APScheduler (3.x) and the holiday calendar, each where it
is first used rather than at import (``bamboe run`` needs neither to become ready; see the
start-up section of docs/performance.md). Its cron trigger computes weekly fire times in a
network's time zone (so 10:00 stays 10:00 across daylight-saving changes). The database is the
only record of planned work (``bot.jobs``); ``bamboe run``'s loop (``bamboe.runtime.App.pump``)
wakes the dispatcher.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import holidays
    from apscheduler.triggers.cron import CronTrigger

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_hhmm(value: str) -> time:
    """``"10:00"`` → ``time(10, 0)``."""
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


@lru_cache(maxsize=1024)
def _weekly_trigger(weekday: int, at: str, timezone: str) -> CronTrigger:
    """One trigger per weekly time (building one costs more than the look-up; they are never changed)."""
    from apscheduler.triggers.cron import CronTrigger  # on first use: not needed to start

    hh = parse_hhmm(at)
    return CronTrigger(day_of_week=WEEKDAYS[weekday], hour=hh.hour, minute=hh.minute, timezone=timezone)


@lru_cache(maxsize=4096)
def weekly_fire_time(weekday: int, at: str, timezone: str, after: datetime) -> datetime:
    """The first ``weekday`` ``at`` (local time in ``timezone``) strictly after ``after`` (UTC).

    Remembered: networks with the same rhythm ask it for the same moment (all their weekly
    questions fall due at once), and a nudge job asks it twice (its reminder's window, the next week)."""
    trigger = _weekly_trigger(weekday, at, timezone)
    fire = trigger.get_next_fire_time(None, after.astimezone(ZoneInfo(timezone)) + timedelta(seconds=1))
    return fire.astimezone(UTC)


def local_at(day: date, at: str, timezone: str) -> datetime:
    """The instant (UTC) of wall-clock time ``at`` on ``day`` in ``timezone``."""
    return datetime.combine(day, parse_hhmm(at), ZoneInfo(timezone)).astimezone(UTC)


@cache
def _dutch_holidays(year: int) -> holidays.HolidayBase:
    import holidays

    return holidays.country_holidays("NL", years=year)


def is_public_holiday(day: date) -> bool:
    """True on a Dutch public holiday (New Year, Easter, King's Day, Christmas, …)."""
    return day in _dutch_holidays(day.year)


def holiday_name(day: date) -> str | None:
    """The holiday's name, or None."""
    return _dutch_holidays(day.year).get(day)

