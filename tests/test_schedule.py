"""The Dutch public holidays of ``bot.schedule`` (the weekly question, the report and the reminders
of a session's input move away from them)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.schedule import dutch_public_holidays, easter_sunday, is_public_holiday


def test_the_holidays_of_2025_and_2026_are_those_of_the_calendar() -> None:
    assert sorted(dutch_public_holidays(2026)) == [
        date(2026, 1, 1), date(2026, 4, 3), date(2026, 4, 5), date(2026, 4, 6),  # New Year, Good Friday, Easter
        date(2026, 4, 27), date(2026, 5, 14), date(2026, 5, 24), date(2026, 5, 25),  # King's Day, Ascension, Whitsun
        date(2026, 12, 25), date(2026, 12, 26),
    ]
    days_2025 = dutch_public_holidays(2025)
    assert date(2025, 4, 26) in days_2025 and date(2025, 4, 27) not in days_2025  # King's Day on Saturday
    assert date(2025, 5, 5) in days_2025  # Liberation Day, a lustrum year
    assert date(2026, 5, 5) not in dutch_public_holidays(2026)
    assert date(2013, 4, 30) in dutch_public_holidays(2013)  # Queen's Day
    assert not is_public_holiday(date(2026, 4, 28)) and is_public_holiday(date(2026, 12, 26))


def test_easter_is_the_gregorian_computus() -> None:
    easter = pytest.importorskip("dateutil.easter", reason="python-dateutil gives the reference dates")
    for year in range(1583, 4100):
        assert easter_sunday(year) == easter.easter(year), year


def test_the_same_days_as_the_holidays_package() -> None:
    holidays = pytest.importorskip("holidays", reason="the holidays package (a dev dependency) is the reference")
    for year in range(1966, 2101):  # the years it covers for the Netherlands
        assert dutch_public_holidays(year) == set(holidays.country_holidays("NL", years=year)), year
