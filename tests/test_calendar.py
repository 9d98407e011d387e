"""French public holidays and PDSA time (SNP-PDSA), computed without a calendar library."""

from __future__ import annotations

import datetime as dt

import pytest

from billing_rules.domain.calendar import easter_sunday, is_pdsa_time, is_public_holiday

# Easter Sundays from the published tables, including the computus' edge years.
EASTERS = {
    1943: dt.date(1943, 4, 25),  # latest possible date
    1818: dt.date(1818, 3, 22),  # earliest possible date
    2008: dt.date(2008, 3, 23),
    2019: dt.date(2019, 4, 21),
    2022: dt.date(2022, 4, 17),
    2023: dt.date(2023, 4, 9),
    2024: dt.date(2024, 3, 31),
    2025: dt.date(2025, 4, 20),
    2026: dt.date(2026, 4, 5),
    2038: dt.date(2038, 4, 25),
}


@pytest.mark.parametrize("year", sorted(EASTERS))
def test_easter_sunday(year: int) -> None:
    assert easter_sunday(year) == EASTERS[year]


def test_the_eleven_holidays_of_2026() -> None:
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(365)]
    holidays = [day.isoformat() for day in days if is_public_holiday(day)]
    assert holidays == [
        "2026-01-01", "2026-04-06", "2026-05-01", "2026-05-08", "2026-05-14", "2026-05-25",
        "2026-07-14", "2026-08-15", "2026-11-01", "2026-11-11", "2026-12-25",
    ]  # fmt: skip


def test_alsace_moselle_days_are_not_national_holidays() -> None:
    assert not is_public_holiday(dt.date(2026, 4, 3))  # Good Friday
    assert not is_public_holiday(dt.date(2026, 12, 26))


def test_same_days_as_a_maintained_calendar() -> None:
    holidays = pytest.importorskip("holidays")
    for year in range(1990, 2101):
        expected = set(holidays.country_holidays("FR", years=year))
        computed = {
            dt.date(year, 1, 1) + dt.timedelta(days=n)
            for n in range(366)
            if (dt.date(year, 1, 1) + dt.timedelta(days=n)).year == year
            and is_public_holiday(dt.date(year, 1, 1) + dt.timedelta(days=n))
        }
        assert computed == expected, year


@pytest.mark.parametrize(
    ("day", "time", "expected"),
    [
        ("2026-05-14", None, True),  # Ascension: all day, even without a time
        ("2026-05-14", "10:00", True),
        ("2026-05-13", "19:59", False),
        ("2026-05-13", "20:00", True),
        ("2026-05-13", "07:59", True),
        ("2026-05-13", "08:00", False),
        ("2026-05-16", "11:59", False),  # Saturday morning
        ("2026-05-16", "12:00", True),
        ("2026-05-17", None, True),  # Sunday
        ("2026-05-13", None, False),  # weekday without a time: no guess
    ],
)
def test_pdsa_time(day: str, time: str | None, expected: bool) -> None:
    moment = dt.time.fromisoformat(time) if time else None
    assert is_pdsa_time(dt.date.fromisoformat(day), moment) is expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2004-05-31", True),  # Whit Monday, before the journée de solidarité law
        ("2005-05-16", False),  # 2005 to 2007: off the list
        ("2007-05-28", False),
        ("2008-05-12", True),  # back from 2008
        ("2026-05-25", True),
    ],
)
def test_whit_monday_around_2005_2007(day: str, expected: bool) -> None:
    assert is_public_holiday(dt.date.fromisoformat(day)) is expected
