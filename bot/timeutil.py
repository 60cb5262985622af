"""Local time for a network: quiet hours and how dates are written for people."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot import i18n
from bot.models import Network
from bot.schedule import is_public_holiday, local_at, parse_hhmm


def tz(network: Network) -> ZoneInfo:
    """The network's time zone."""
    return ZoneInfo(network.timezone)


def local(network: Network, instant: datetime) -> datetime:
    """``instant`` on the network's wall clock."""
    return instant.astimezone(tz(network))


def local_instant(network: Network, day: date, at: time) -> datetime | None:
    """The instant (UTC) of wall-clock time ``at`` on ``day``, or None when that time does not
    exist there (the hour the clocks skip when summer time starts). A time that occurs twice (the
    hour repeated when summer time ends) is its first occurrence, still in summer time."""
    zone = tz(network)
    wall = datetime.combine(day, at)
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    return instant if instant.astimezone(zone).replace(tzinfo=None) == wall else None


def add_local(network: Network, instant: datetime, delta: timedelta) -> datetime:
    """``instant`` plus ``delta`` counted on the network's wall clock: ten days after Friday 09:01
    is Monday 09:01, also across a change to or from summer time (UTC arithmetic would be an hour
    off). A result in the skipped hour moves an hour on; one in the repeated hour is its first."""
    zone = tz(network)
    wall = instant.astimezone(zone).replace(tzinfo=None) + delta
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def in_quiet_hours(network: Network, instant: datetime) -> bool:
    """True at night (between quiet_start and quiet_end) and, by default, in weekends."""
    loc = local(network, instant)
    if network.quiet_weekends and loc.weekday() >= 5:
        return True
    start, end = parse_hhmm(network.quiet_start), parse_hhmm(network.quiet_end)
    now = loc.time()
    if start == end:
        return False
    if start < end:
        return start <= now < end
    return now >= start or now < end


def next_open_time(network: Network, instant: datetime) -> datetime:
    """The first instant at or after ``instant`` outside the network's quiet hours."""
    zone = tz(network)
    candidate = instant
    for _ in range(10):
        if not in_quiet_hours(network, candidate):
            return candidate
        loc = candidate.astimezone(zone)
        end = parse_hhmm(network.quiet_end)
        day = loc.date()
        if network.quiet_weekends and loc.weekday() >= 5:
            day = day + timedelta(days=7 - loc.weekday())
        elif loc.time() >= end:
            day = day + timedelta(days=1)
        candidate = datetime.combine(day, end, zone).astimezone(UTC)
        if candidate <= instant:
            candidate = instant + timedelta(minutes=1)
    return candidate


def next_working_time(network: Network, instant: datetime) -> datetime:
    """The first instant at or after ``instant`` outside quiet hours and not on a Dutch public
    holiday: a holiday moves it to the same wall-clock time on the next day (then past quiet hours
    and further holidays again). For private messages the bot starts itself (reminders, follow-ups),
    which wait for a working day as its group messages do."""
    candidate = next_open_time(network, instant)
    for _ in range(10):
        loc = local(network, candidate)
        if not is_public_holiday(loc.date()):
            return candidate
        candidate = next_open_time(network, local_at(loc.date() + timedelta(days=1), f"{loc:%H:%M}",
                                                     network.timezone))
    return candidate


def format_when(network: Network, instant: datetime, language: str | None = None) -> str:
    """A readable local date and time, e.g. ``di 19 jan 2026 14:00``."""
    loc = local(network, instant)
    return f"{format_date(network, loc.date(), language)} {loc:%H:%M}"


def format_date(network: Network, day: date, language: str | None = None) -> str:
    """A readable date, e.g. ``zo 29 mrt 2026``."""
    lang = language or network.language
    days = i18n.raw(lang, "calendar.weekdays_short")
    months = i18n.raw(lang, "calendar.months_short")
    return f"{days[day.weekday()]} {day.day} {months[day.month - 1]} {day.year}"


def format_short_date(language: str, day: date, *, year: bool = True) -> str:
    """A date in a line or a list: ``14-10-2026`` (``14-10`` without the year) as it is written in
    Dutch; ``14 Oct 2026`` (``14 Oct``) in English, where a date in figures reads as month-day to
    many readers."""
    if language != "en":
        return f"{day:%d-%m-%Y}" if year else f"{day:%d-%m}"
    months = i18n.raw(language, "calendar.months_short")
    short = f"{day.day} {months[day.month - 1]}"
    return f"{short} {day.year}" if year else short


def format_time(network: Network, instant: datetime) -> str:
    """Local ``HH:MM``."""
    return f"{local(network, instant):%H:%M}"
