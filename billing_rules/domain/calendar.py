"""French public holidays and PDSA (permanence des soins) periods, used by the SNP rules.

The eleven public holidays of metropolitan France are fixed by the Code du travail (art. L3133-1):
eight fixed dates and three that follow Easter. They are computed here rather than taken from a
calendar library: the list has hardly changed since 1982, and loading a library of every country's
calendars cost a check 200 ms of start-up for these eleven days. Alsace-Moselle's two extra days
(Good Friday, 26 December) are not national holidays and do not make PDSA time.
"""

from __future__ import annotations

import datetime as dt
import functools

_SATURDAY = 5
_SUNDAY = 6
PDSA_EVENING = dt.time(20, 0)
PDSA_MORNING_END = dt.time(8, 0)
SATURDAY_NOON = dt.time(12, 0)


# (month, day) of the fixed holidays: 1 January, 1 May, 8 May, 14 July, 15 August, 1 November,
# 11 November, 25 December.
_FIXED = ((1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25))
# Days after Easter Sunday: Easter Monday, Ascension Thursday, Whit Monday (which the 2004 law on
# the "journée de solidarité" took off the list for 2005 to 2007).
_AFTER_EASTER = (1, 39, 50)


def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter Sunday (the anonymous Gregorian computus, Meeus/Jones/Butcher)."""
    golden = year % 19
    century, year_of_century = divmod(year, 100)
    leap_centuries, century_rest = divmod(century, 4)
    correction = (century + 8) // 25
    moon = (century - correction + 1) // 3
    epact = (19 * golden + century - leap_centuries - moon + 15) % 30
    leap_years, year_rest = divmod(year_of_century, 4)
    weekday = (32 + 2 * century_rest + 2 * leap_years - epact - year_rest) % 7
    shift = (golden + 11 * epact + 22 * weekday) // 451
    month, day = divmod(epact + weekday - 7 * shift + 114, 31)
    return dt.date(year, month, day + 1)


@functools.lru_cache(maxsize=64)
def _holidays_of(year: int) -> frozenset[dt.date]:
    easter = easter_sunday(year)
    fixed = (dt.date(year, month, day) for month, day in _FIXED)
    offsets = _AFTER_EASTER if not 2005 <= year <= 2007 else _AFTER_EASTER[:2]  # see _AFTER_EASTER
    moving = (easter + dt.timedelta(days=offset) for offset in offsets)
    return frozenset((*fixed, *moving))


def is_public_holiday(day: dt.date) -> bool:
    """A metropolitan French public holiday (1 January, Easter Monday, 1 and 8 May, ...)."""
    return day in _holidays_of(day.year)


def is_pdsa_time(day: dt.date, time: dt.time | None) -> bool:
    """Out-of-hours duty time, as SPEC §5 defines it for SNP-PDSA.

    Sundays and public holidays are PDSA all day; otherwise before 08:00 or from 20:00, and on
    Saturdays from 12:00. Without a time only the whole-day cases can be known, so the act is not
    taken as PDSA (no finding on a guess).
    """
    if day.weekday() == _SUNDAY or is_public_holiday(day):
        return True
    if time is None:
        return False
    if time < PDSA_MORNING_END or time >= PDSA_EVENING:
        return True
    return day.weekday() == _SATURDAY and time >= SATURDAY_NOON


def rolling_start(day: dt.date, period: str, span: int) -> dt.date:
    """The last day *outside* a rolling window ending on ``day``.

    "Within the 12 months ending on the act's date" counts invoices after the same date one year
    earlier (SPEC §5): the window is ``(rolling_start, day]``. Month arithmetic clamps to the end of
    the month (29 February minus 12 months is 28 February).
    """
    if period == "days":
        return day - dt.timedelta(days=span)
    if period == "weeks":
        return day - dt.timedelta(weeks=span)
    months = span * (12 if period == "years" else 1)
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    while True:
        try:
            return day.replace(year=year, month=month)
        except ValueError:
            day = day - dt.timedelta(days=1)
