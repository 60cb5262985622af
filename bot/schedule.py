"""Calendar arithmetic for recurring work: weekly fire times and Dutch public holidays.

This is the only module that imports APScheduler (3.x), where it is first used rather than at
import (``bamboe run`` does not need it to become ready; see the start-up section of
docs/performance.md). Its cron trigger computes weekly fire times in a network's time zone (so
10:00 stays 10:00 across daylight-saving changes). The public holidays are computed here (a dozen
lines instead of a package that loads the calendars of every country). The database is the only
record of planned work (``bot.jobs``); ``bamboe run``'s loop (``bamboe.runtime.App.pump``) wakes
the dispatcher.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
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


def easter_sunday(year: int) -> date:
    """Easter Sunday of ``year`` in the Gregorian calendar (the anonymous algorithm of Meeus,
    Jones and Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    h = (19 * a + b - b // 4 - (b - (b + 8) // 25 + 1) // 3 + 15) % 30
    weekday = (32 + 2 * (b % 4) + 2 * (c // 4) - h - c % 4) % 7
    shift = (a + 11 * h + 22 * weekday) // 451
    month, day = divmod(h + weekday - 7 * shift + 114, 31)
    return date(year, month, day + 1)


@cache
def dutch_public_holidays(year: int) -> frozenset[date]:
    """The Dutch public holidays of ``year``: those of the Algemene termijnenwet (New Year's Day,
    Easter Monday, King's Day, Ascension Day, Whit Monday, Christmas and Boxing Day), Easter and
    Whit Sunday, Good Friday, and Liberation Day in every fifth year (2025, 2030, …), when most
    collective agreements give it off.

    King's Day is 27 April, or Saturday the 26th when the 27th is a Sunday; before 2014 it was
    Queen's Day, 30 April (on a Sunday: the 29th from 1980 on, 1 May before). The same days as
    the calendar of the ``holidays`` package, which the tests compare it with."""
    easter = easter_sunday(year)
    royal = date(year, 4, 27) if year >= 2014 else date(year, 4, 30)
    if royal.weekday() == 6:
        royal += timedelta(days=-1 if year >= 1980 else 1)
    days = {date(year, 1, 1), royal, date(year, 12, 25), date(year, 12, 26)}
    days.update(easter + timedelta(days=n) for n in (-2, 0, 1, 39, 49, 50))
    if year % 5 == 0:
        days.add(date(year, 5, 5))
    return frozenset(days)


def is_public_holiday(day: date) -> bool:
    """True on a Dutch public holiday (New Year, Easter, King's Day, Christmas, …)."""
    return day in dutch_public_holidays(day.year)
