"""Calendar arithmetic for recurring work, and the in-process alarm clock.

This is the only module that imports APScheduler (3.x). Its cron trigger computes weekly fire
times in a network's time zone (so 10:00 stays 10:00 across daylight-saving changes); its
asyncio scheduler wakes the dispatcher. The database stays the source of truth for planned
work: nothing is kept only in APScheduler's memory.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

log = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_hhmm(value: str) -> time:
    """``"10:00"`` → ``time(10, 0)``."""
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


def weekly_fire_time(weekday: int, at: str, timezone: str, after: datetime) -> datetime:
    """The first ``weekday`` ``at`` (local time in ``timezone``) strictly after ``after`` (UTC)."""
    hh = parse_hhmm(at)
    trigger = CronTrigger(day_of_week=WEEKDAYS[weekday], hour=hh.hour, minute=hh.minute, timezone=timezone)
    fire = trigger.get_next_fire_time(None, after.astimezone(ZoneInfo(timezone)) + timedelta(seconds=1))
    return fire.astimezone(UTC)


def local_at(day: date, at: str, timezone: str) -> datetime:
    """The instant (UTC) of wall-clock time ``at`` on ``day`` in ``timezone``."""
    return datetime.combine(day, parse_hhmm(at), ZoneInfo(timezone)).astimezone(UTC)


@cache
def _dutch_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("NL", years=year)


def is_public_holiday(day: date) -> bool:
    """True on a Dutch public holiday (New Year, Easter, King's Day, Christmas, …)."""
    return day in _dutch_holidays(day.year)


def holiday_name(day: date) -> str | None:
    """The holiday's name, or None."""
    return _dutch_holidays(day.year).get(day)


class Alarm:
    """Wakes a callback when planned work falls due, and at a steady interval as a safety net.

    Other processes may add rows at any time, so the interval poll (default 30 s) bounds how
    late their work can start; :meth:`wake_at` brings a known due time forward.
    """

    def __init__(self, callback: Callable[[], Awaitable[None]], poll_seconds: float = 30.0) -> None:
        self._callback = callback
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._poll = poll_seconds

    def start(self) -> None:
        """Start polling (needs a running event loop)."""
        self._scheduler.add_job(self._callback, "interval", seconds=self._poll, id="poll",
                                max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))
        self._scheduler.start()

    def wake_at(self, when: datetime) -> None:
        """Run the callback at ``when`` (replacing an earlier one-off wake-up)."""
        self._scheduler.add_job(self._callback, "date", run_date=when, id="wake",
                                replace_existing=True, max_instances=1, misfire_grace_time=None)

    def stop(self) -> None:
        """Stop without waiting for running callbacks."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
