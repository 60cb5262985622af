from datetime import date, time, timedelta

import pytest

from bot.parsing import UserError, parse_duration, parse_time, parse_time_range, parse_weekday, take_date

TODAY = date(2026, 1, 5)


@pytest.mark.parametrize("words, expected, used", [
    (["2026-01-19"], date(2026, 1, 19), 1),
    (["19-1-2026"], date(2026, 1, 19), 1),
    (["19/01/26"], date(2026, 1, 19), 1),
    (["19-1"], date(2026, 1, 19), 1),
    (["3-1"], date(2027, 1, 3), 1),  # already past this year: next year
    (["17", "februari"], date(2026, 2, 17), 2),
    (["17", "February", "2027", "x"], date(2027, 2, 17), 3),
    (["morgen"], date(2026, 1, 6), 1),
    # a past day is a date: the command refuses it as passed (errors.in_the_past), see test_input_checks
    (["gisteren"], date(2026, 1, 4), 1),
    (["binnen", "2", "weken"], date(2026, 1, 19), 3),
    (["in", "a", "week"], date(2026, 1, 12), 3),
    (["١٩-١-٢٠٢٦"], date(2026, 1, 19), 1),
])
def test_dates(words, expected, used):
    assert take_date(words, TODAY) == (expected, used)


@pytest.mark.parametrize("value", ["2026-13-45", "31-2-2026", "eergisteravond", "30", "29 februari 2026",
                                   "over 400 dagen"])
def test_bad_dates(value):
    with pytest.raises(UserError) as err:
        take_date(value.split(), TODAY)
    assert err.value.key == "errors.bad_date"


def test_times_and_ranges():
    assert parse_time("14:00") == time(14) and parse_time("9.30") == time(9, 30) and parse_time("9u") == time(9)
    assert parse_time_range("14:00-16:30") == (time(14), time(16, 30))
    for bad in ("24:00", "12:60", "noon", "1400"):
        with pytest.raises(UserError):
            parse_time(bad)


def test_durations_and_weekdays():
    assert parse_duration("2w") == timedelta(days=14)
    assert parse_duration("10d") == timedelta(days=10)
    assert parse_duration("3 weken") == timedelta(days=21)
    assert parse_duration("1 maand") == timedelta(days=30)
    for bad in ("0d", "2 jaar", "400d", "lang"):
        with pytest.raises(UserError):
            parse_duration(bad)
    assert parse_weekday("di") == 1 and parse_weekday("Thursday") == 3
    with pytest.raises(UserError):
        parse_weekday("xx")


def test_times_and_durations_take_digits_of_any_script():
    assert parse_time("١٤:٣٠") == time(14, 30)
    assert parse_duration("２w") == timedelta(weeks=2)
    with pytest.raises(UserError):
        parse_duration("²w")
