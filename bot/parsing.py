"""Parsing what people type: numbers, dates, times, durations, weekdays.

Errors are :class:`UserError` with a prompt key, so the member gets a clear answer in their
network's language saying what was wrong and how to write it.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from typing import Any


class UserError(Exception):
    """Bad input from a person: rendered as prompt ``key`` with ``params`` (kind ``error``)."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


#: the largest number a member can type for something the bot numbered or counts (a meeting, an
#: action, an announcement, a count of weeks): it fits an INTEGER column on SQLite and PostgreSQL alike
MAX_NUMBER = 2**31 - 1
#: dates outside these years are refused (the clock arithmetic of a date near year 9999 overflows)
YEARS = (1900, 2200)


def ascii_digits(token: str) -> str:
    """``token`` with every decimal digit of any script (``٣``, full-width ``３``) as its ASCII digit.

    Only decimal digits (Unicode category Nd) count: ``²`` and ``①`` pass ``str.isdigit()`` but are
    no digit a member types for a number, so they stay as they are."""
    if token.isascii():
        return token
    return "".join(str(int(ch)) if ch.isdecimal() else ch for ch in token)


#: how far ahead a session, a planned announcement or an action's date may lie: further is most likely a
#: typo in the year (2062 for 2026), and the bot would plan a question for then
PLAN_AHEAD = timedelta(days=2 * 365 + 1)


def check_ahead(day: date, today: date, shown: str) -> None:
    """A :class:`UserError` when ``day`` lies more than :data:`PLAN_AHEAD` after ``today``
    (``shown``: the moment as the answer names it)."""
    if day - today > PLAN_AHEAD:
        raise UserError("errors.too_far_ahead", value=shown)


def first_word(text: str) -> tuple[str, str]:
    """``text``'s first word and the rest, split at any whitespace: a space, a tab, a no-break space
    (phones and copied text put them there) or a new line (``/vier`` and the text on the next line).
    The rest keeps its own lines; both are stripped. ``("", "")`` for empty text."""
    parts = text.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


def number(token: str) -> int | None:
    """``token`` as a whole number, or None when it is not one.

    Decimal digits of every script count (``٦`` and full-width ``６`` are 6, see
    :func:`ascii_digits`): every command that takes a number parses it here. ``²`` and ``①`` pass
    ``str.isdigit()`` but are no number a member meant (and ``int("²")`` fails). A number above
    :data:`MAX_NUMBER` is a :class:`UserError` that says so (no row and no setting has such a number)."""
    token = ascii_digits(token)
    if not token or not token.isascii() or not token.isdigit():
        return None
    if len(token) > 10 or int(token) > MAX_NUMBER:
        raise UserError("errors.number_too_large", value=token[:15] + ("…" if len(token) > 15 else ""))
    return int(token)


def button_number(token: str) -> int | None:
    """The number in a button's payload, or None when a forged payload holds none (or one too large)."""
    try:
        return number(token)
    except UserError:
        return None


MONTHS = {
    "januari": 1, "jan": 1, "january": 1,
    "februari": 2, "feb": 2, "february": 2,
    "maart": 3, "mrt": 3, "march": 3, "mar": 3,
    "april": 4, "apr": 4,
    "mei": 5, "may": 5,
    "juni": 6, "jun": 6, "june": 6,
    "juli": 7, "jul": 7, "july": 7,
    "augustus": 8, "aug": 8, "august": 8,
    "september": 9, "sep": 9, "sept": 9,
    "oktober": 10, "okt": 10, "october": 10, "oct": 10,
    "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}

WEEKDAYS = {
    "ma": 0, "maandag": 0, "mon": 0, "monday": 0,
    "di": 1, "dinsdag": 1, "tue": 1, "tuesday": 1,
    "wo": 2, "woensdag": 2, "wed": 2, "wednesday": 2,
    "do": 3, "donderdag": 3, "thu": 3, "thursday": 3,
    "vr": 4, "vrijdag": 4, "fri": 4, "friday": 4,
    "za": 5, "zaterdag": 5, "sat": 5, "saturday": 5,
    "zo": 6, "zondag": 6, "sun": 6, "sunday": 6,
}

RELATIVE_UNITS = {"dag": 1, "dagen": 1, "day": 1, "days": 1, "week": 7, "weken": 7, "weeks": 7,
                  "maand": 30, "maanden": 30, "month": 30, "months": 30}
RELATIVE_DAYS = {"vandaag": 0, "today": 0, "morgen": 1, "tomorrow": 1, "overmorgen": 2,
                 # a past day is still a date: the command then says it is over (errors.in_the_past)
                 "gisteren": -1, "yesterday": -1, "eergisteren": -2}
#: ``over 2 weken``, ``binnen 2 weken``, ``in 2 weeks``, ``within a week``
RELATIVE_WORDS = ("over", "in", "binnen", "within")
#: ``binnen een week``, ``in a week``: one
ONE_WORDS = ("een", "één", "a", "an", "one")

# re.ASCII: \d is 0-9 only (not "٣" or other scripts' digits)
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$", re.ASCII)
_DMY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})(?:[-/.](\d{2,4}))?$", re.ASCII)
_TIME = re.compile(r"^(\d{1,2})(?:[:.](\d{2})|u|h)?$", re.ASCII)
_DURATION = re.compile(
    r"^(\d{1,3})\s*(d|dag|dagen|day|days|w|wk|week|weken|weeks|m|mnd|maand|maanden|month|months)$", re.ASCII)


def _make_date(year: int, month: int, day: int, raw: str) -> date:
    if not YEARS[0] <= year <= YEARS[1]:
        raise UserError("errors.date_out_of_range", value=raw, low=YEARS[0], high=YEARS[1])
    try:
        return date(year, month, day)
    except ValueError:
        raise UserError("errors.bad_date", value=raw) from None


def take_date(words: list[str], today: date) -> tuple[date, int]:
    """Parse a date from the start of ``words``; return it and how many words it used.

    Accepts ``2026-01-19``, ``19-1-2026``, ``19-1``, ``19 januari [2026]``, ``morgen``, ``gisteren``,
    ``over 2 weken``, ``binnen 2 weken``, ``in 2 weeks``, ``within a week`` (digits of any script).
    Dates without a year fall on or after ``today``.
    """
    if not words:
        raise UserError("errors.missing_date")
    words = [ascii_digits(w) for w in words]
    first = words[0].lower().rstrip(",")
    if first in RELATIVE_DAYS:
        return today + timedelta(days=RELATIVE_DAYS[first]), 1
    if first in RELATIVE_WORDS and len(words) >= 3 and (count := _count(words[1])) is not None:
        unit = words[2].lower().rstrip(".,")
        if unit in RELATIVE_UNITS:
            if not 0 < count <= 366:
                raise UserError("errors.bad_date", value=" ".join(words[:3]))
            return today + timedelta(days=count * RELATIVE_UNITS[unit]), 3
    if m := _ISO.match(first):
        return _make_date(int(m[1]), int(m[2]), int(m[3]), words[0]), 1
    if m := _DMY.match(first):
        day, month = int(m[1]), int(m[2])
        if m[3]:
            year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
            return _make_date(year, month, day, words[0]), 1
        return _future(day, month, today, words[0]), 1
    if (day := number(first)) is not None and len(words) > 1 and words[1].lower().rstrip(",.") in MONTHS:
        month = MONTHS[words[1].lower().rstrip(",.")]
        if len(words) > 2 and re.fullmatch(r"[0-9]{4}", words[2]):
            return _make_date(int(words[2]), month, day, " ".join(words[:3])), 3
        return _future(day, month, today, " ".join(words[:2])), 2
    raise UserError("errors.bad_date", value=words[0])


def _count(token: str) -> int | None:
    """The count in ``over 2 weken`` / ``in a week``."""
    return 1 if token.lower() in ONE_WORDS else number(token)


def looks_like_date(words: list[str]) -> bool:
    """True when ``words`` begin with what can only be meant as a date (``2026-02-30``, ``30-2``,
    ``30 februari``, ``gisteren``, ``vrijdag``, ``over 2 weken``), even one :func:`take_date` refuses;
    False for words such as ``de kinderen`` or ``3 kinderen``."""
    if not words:
        return False
    first = ascii_digits(words[0]).lower().rstrip(",.")
    if first in RELATIVE_DAYS or (len(first) > 2 and first in WEEKDAYS):
        return True
    if re.match(r"[0-9]+[-/.][0-9]", first):
        return True
    if first.isascii() and first.isdigit():
        return len(words) > 1 and words[1].lower().rstrip(",.") in MONTHS
    return (first in RELATIVE_WORDS and len(words) >= 3 and _count(words[1]) is not None
            and words[2].lower().rstrip(".,") in RELATIVE_UNITS)


def take_due_date(words: list[str], today: date) -> tuple[date, int]:
    """:func:`take_date`, and also a weekday: ``vrijdag``/``friday`` is the coming one (a week on
    when it is that day today). Two-letter abbreviations (``ma``, ``do``, ``zo``) are Dutch words too,
    so only full names and ``fri``-style abbreviations count."""
    if words and len(first := words[0].lower().rstrip(",.")) > 2 and first in WEEKDAYS:
        return today + timedelta(days=(WEEKDAYS[first] - today.weekday() - 1) % 7 + 1), 1
    return take_date(words, today)


def _future(day: int, month: int, today: date, raw: str) -> date:
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        raise UserError("errors.bad_date", value=raw)
    candidate = _make_date(today.year, month, day, raw)
    if candidate < today:
        candidate = _make_date(today.year + 1, month, day, raw)
    return candidate


def parse_time(value: str) -> time:
    """``14:00``, ``14.30``, ``9u``, ``14`` → a time; anything else is a :class:`UserError`."""
    m = _TIME.match(ascii_digits(value.strip().lower()))
    if not m:
        raise UserError("errors.bad_time", value=value)
    hour, minute = int(m[1]), int(m[2] or 0)
    if hour > 23 or minute > 59:
        raise UserError("errors.bad_time", value=value)
    return time(hour, minute)


def parse_time_range(value: str) -> tuple[time, time | None]:
    """``14:00`` or ``14:00-16:30`` → (start, end or None)."""
    if "-" in value:
        start, _, end = value.partition("-")
        return parse_time(start), parse_time(end)
    return parse_time(value), None


def parse_duration(value: str) -> timedelta:
    """``2w``, ``10d``, ``3 weken``, ``1 maand`` → a timedelta (at most a year)."""
    m = _DURATION.match(ascii_digits(value.strip().lower()))
    if not m:
        raise UserError("errors.bad_duration", value=value)
    n, unit = int(m[1]), m[2]
    days = n * (7 if unit.startswith("w") else 30 if unit.startswith("m") else 1)
    if not 0 < days <= 366:
        raise UserError("errors.bad_duration", value=value)
    return timedelta(days=days)


def parse_weekday(value: str) -> int:
    """``di`` / ``dinsdag`` / ``tue`` → 1."""
    try:
        return WEEKDAYS[value.strip().lower().rstrip(".")]
    except KeyError:
        raise UserError("errors.bad_weekday", value=value) from None


def hhmm(value: time) -> str:
    """A time as ``HH:MM``."""
    return f"{value.hour:02d}:{value.minute:02d}"
