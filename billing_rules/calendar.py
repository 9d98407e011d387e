"""French public holidays and PDSA (permanence des soins) periods, used by the SNP rules.

Holidays come from the maintained ``holidays`` package (metropolitan France, without the
Alsace-Moselle extras), loaded lazily and cached per year: the CLI must not pay for it when no rule
asks.
"""

from __future__ import annotations

import datetime as dt
import functools

_SATURDAY = 5
_SUNDAY = 6
PDSA_EVENING = dt.time(20, 0)
PDSA_MORNING_END = dt.time(8, 0)
SATURDAY_NOON = dt.time(12, 0)


@functools.lru_cache(maxsize=64)
def _holidays_of(year: int) -> frozenset[dt.date]:
    import holidays

    return frozenset(holidays.country_holidays("FR", years=year))


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
