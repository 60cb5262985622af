"""Which days a report covers, from what a trekker types after ``/rapport``.

``/rapport`` alone is the last month up to today. Also: a number of days, weeks, months or years
back (``3m``, ``6 weken``); this or the previous calendar month, quarter or year (``maand``,
``vorige maand``, ``kwartaal``, ``vorig jaar``); one month, quarter or year (``februari``,
``2026-02``, ``q1 2026``, ``2026``); or two dates (``2026-01-01 2026-03-31``, ``1-1 tot 31-3``).
A period never runs past today, begins at the earliest when the network started, and is at most
two years long. Bad input is a :class:`~bot.parsing.UserError` that says how to write it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from bot import i18n
from bot.parsing import MONTHS, UserError, take_date

#: the longest period a report covers
MAX_DAYS = 731

_UNITS = {
    "d": "day",
    "dag": "day",
    "dagen": "day",
    "day": "day",
    "days": "day",
    "w": "week",
    "wk": "week",
    "week": "week",
    "weken": "week",
    "weeks": "week",
    "m": "month",
    "mnd": "month",
    "maand": "month",
    "maanden": "month",
    "month": "month",
    "months": "month",
    "q": "quarter",
    "kw": "quarter",
    "kwartaal": "quarter",
    "kwartalen": "quarter",
    "quarter": "quarter",
    "quarters": "quarter",
    "j": "year",
    "y": "year",
    "jaar": "year",
    "jaren": "year",
    "year": "year",
    "years": "year",
}
#: "dit kwartaal" (the calendar unit so far), "vorig kwartaal" (the one before), "afgelopen maand"
#: (rolling: the last month up to today)
_THIS = ("dit", "deze", "this", "current", "huidige")
_PREVIOUS = ("vorig", "vorige", "previous", "last")
_ROLLING = ("afgelopen", "laatste", "past")
_FROM = ("van", "vanaf", "sinds", "from", "since")
_UNTIL = ("tot", "t/m", "tm", "-", "–", "to", "until", "till")
_ROLLING_N = re.compile(r"^(\d{1,3})\s*([a-z]+)$")
_YEAR = re.compile(r"^(\d{4})$")
_YEAR_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^[qk]([1-4])$")
_HAS_YEAR = re.compile(r"\d{4}|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$")


@dataclass(frozen=True)
class Period:
    """The days a report covers (both inclusive)."""

    start: date
    end: date
    #: the asked period began before the network did; ``start`` is the network's first day
    clipped: bool = False

    @property
    def days(self) -> int:
        """How many days the period has."""
        return (self.end - self.start).days + 1


def format_day(lang: str, day: date) -> str:
    """``5 jan 2026`` in the network's language."""
    months = i18n.raw(lang, "calendar.months_short")
    return f"{day.day} {months[day.month - 1]} {day.year}"


def months_back(day: date, n: int) -> date:
    """The same day ``n`` months earlier (the month's last day when it has fewer days)."""
    month0 = day.year * 12 + day.month - 1 - n
    year, month = divmod(month0, 12)
    return date(year, month + 1, min(day.day, _month_length(year, month + 1)))


def _month_length(year: int, month: int) -> int:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def month_period(year: int, month: int) -> tuple[date, date]:
    """The first and last day of a calendar month."""
    return date(year, month, 1), date(year, month, _month_length(year, month))


def previous_month(day: date) -> tuple[date, date]:
    """The calendar month before ``day``'s month."""
    first = day.replace(day=1) - timedelta(days=1)
    return month_period(first.year, first.month)


def last_month(today: date) -> tuple[date, date]:
    """The default: the last month up to and including today."""
    return months_back(today, 1) + timedelta(days=1), today


def _back(today: date, n: int, unit: str) -> date:
    if unit == "day":
        return today - timedelta(days=n - 1)
    if unit == "week":
        return today - timedelta(weeks=n) + timedelta(days=1)
    months = {"month": 1, "quarter": 3, "year": 12}[unit] * n
    return months_back(today, months) + timedelta(days=1)


def _calendar(today: date, unit: str, back: int) -> tuple[date, date]:
    """This (``back`` 0) or the previous (``back`` 1) calendar week, month, quarter or year."""
    if unit == "day":
        day = today - timedelta(days=back)
        return day, day
    if unit == "week":
        monday = today - timedelta(days=today.weekday()) - timedelta(weeks=back)
        return monday, monday + timedelta(days=6)
    if unit == "month":
        first = months_back(today.replace(day=1), back)
        return month_period(first.year, first.month)
    if unit == "quarter":
        first = months_back(date(today.year, (today.month - 1) // 3 * 3 + 1, 1), 3 * back)
        return first, months_back(first, -3) - timedelta(days=1)
    year = today.year - back
    return date(year, 1, 1), date(year, 12, 31)


def _quarter(year: int, q: int) -> tuple[date, date]:
    first = date(year, 3 * q - 2, 1)
    return first, months_back(first, -3) - timedelta(days=1)


def _latest_year(today: date, first_month: int) -> int:
    """The year in which a month (or quarter starting then) named without a year most recently began."""
    return today.year if date(today.year, first_month, 1) <= today else today.year - 1


def _date(words: list[str], today: date) -> tuple[date, int]:
    """A date from the start of ``words``; one written without a year is the latest one up to today."""
    day, used = take_date(words, today)
    if day > today and not any(_HAS_YEAR.search(w) for w in words[:used]):
        try:
            day = day.replace(year=day.year - 1)
        except ValueError:  # 29 February
            day = day.replace(year=day.year - 1, day=28)
    return day, used


def _parse(words: list[str], today: date) -> tuple[date, date] | None:
    """The asked start and end, or None when the words are not a period."""
    n = len(words)
    if n == 0:
        return last_month(today)
    text = " ".join(words)
    first = words[0]
    # a number of units back: 3m, 3 maanden, afgelopen 6 weken, last 2 years
    rest = words[1:] if first in _ROLLING + _PREVIOUS and n > 1 and words[1][:1].isdigit() else words
    if len(rest) <= 2 and (m := _ROLLING_N.match(" ".join(rest))) and m[2] in _UNITS and int(m[1]) > 0:
        return _back(today, int(m[1]), _UNITS[m[2]]), today
    # this / previous / past calendar unit: maand, dit kwartaal, vorig jaar, afgelopen maand
    if n <= 2 and words[-1] in _UNITS and len(words[-1]) > 1:
        unit = _UNITS[words[-1]]
        if n == 1 or first in _THIS:
            return _calendar(today, unit, 0)
        if first in _PREVIOUS:
            return _calendar(today, unit, 1)
        if first in _ROLLING:
            return _back(today, 1, unit), today
        return None
    # one month, quarter or year: 2026, 2026-02, februari [2026], q1 [2026], kwartaal 1 [2026]
    if m := _YEAR.match(text):
        return date(int(m[1]), 1, 1), date(int(m[1]), 12, 31)
    if (m := _YEAR_MONTH.match(text)) and 1 <= int(m[2]) <= 12:
        return month_period(int(m[1]), int(m[2]))
    if first in MONTHS and n <= 2 and not first.isdigit():
        month = MONTHS[first]
        if n == 1:
            return month_period(_latest_year(today, month), month)
        if _YEAR.match(words[1]):
            return month_period(int(words[1]), month)
        return None
    quarter = words
    if first in ("kwartaal", "quarter") and n in (2, 3) and words[1] in ("1", "2", "3", "4"):
        quarter = ["q" + words[1], *words[2:]]
    if (m := _QUARTER.match(quarter[0])) and len(quarter) <= 2:
        q = int(m[1])
        if len(quarter) == 1:
            return _quarter(_latest_year(today, 3 * q - 2), q)
        if _YEAR.match(quarter[1]):
            return _quarter(int(quarter[1]), q)
        return None
    # dates: "2026-01-01 2026-03-31", "van 1-1 tot 31-3", "sinds 15 januari"
    i = 1 if first in _FROM else 0
    start, used = _date(words[i:], today)
    i += used
    if i < n and words[i] in _UNTIL:
        i += 1
    if i == n:
        return start, today
    end, used = _date(words[i:], today)
    if i + used != n:
        return None
    return start, end


def parse_period(args: str, today: date, started: date, lang: str) -> Period:
    """The period ``args`` names, for a network that started on ``started`` (today is ``today``)."""
    words = [w.lower().strip(",.") for w in args.split()]
    words = [w for w in words if w]
    try:
        asked = _parse(words, today)
    except UserError:
        asked = None
    if asked is None:
        raise UserError("errors.report_period", value=args.strip()[:60])
    start, end = asked
    if end < start:
        raise UserError("errors.report_period_order", start=format_day(lang, start), end=format_day(lang, end))
    if start > today:
        raise UserError("errors.report_period_future", start=format_day(lang, start))
    end = min(end, today)
    if end < started:
        raise UserError("errors.report_before_start", date=format_day(lang, started))
    clipped = start < started
    start = max(start, started)
    if (end - start).days + 1 > MAX_DAYS:
        raise UserError("errors.report_period_long", months=MAX_DAYS // 30)
    return Period(start, end, clipped)
