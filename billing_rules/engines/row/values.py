"""What the row engine's closures compute with, once per event.

Untyped cells read as numbers or dates, dates moved in the calendar, operators that give up
quietly on a type mismatch. Kept apart from the compiler, which only decides which closure to
build: these are what the closures call.
"""

from __future__ import annotations

import datetime as dt
from calendar import monthrange
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

#: What :func:`as_number` and :func:`as_date` give for a value that does not read as one.
UNREADABLE = object()
_DIGITS = frozenset("0123456789")


@attrs.frozen
class Months:
    """A duration in calendar months, added the calendar way (31 March + 1 month = 30 April)."""

    months: int


def as_number(value: Any) -> Any:
    """``value`` as a Decimal (text with a decimal comma or point), or :data:`UNREADABLE`."""
    if isinstance(value, bool):
        return UNREADABLE
    if isinstance(value, (int, Decimal)):
        return value
    if isinstance(value, float):
        return Decimal(repr(value)) if value == value and abs(value) != float("inf") else UNREADABLE
    if isinstance(value, str):
        text = value.strip().replace(",", ".")
        body = text[1:] if text[:1] in ("+", "-") else text
        whole, _, decimals = body.partition(".")
        if (whole or decimals) and set(whole + decimals) <= _DIGITS and len(body) <= 40:
            return Decimal(text)
    return UNREADABLE


def as_date(value: Any) -> Any:
    """``value`` as a date (``AAAA-MM-JJ`` or ``JJ/MM/AAAA``), or :data:`UNREADABLE`."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        parts = text.split("/")
        numeric = len(parts) == 3 and all(part and set(part) <= _DIGITS for part in parts)
        try:
            if numeric and len(parts[2]) == 4:
                return dt.date(int(parts[2]), int(parts[1]), int(parts[0]))
            if len(text) == 10:
                return dt.date.fromisoformat(text)
        except ValueError:
            return UNREADABLE
    return UNREADABLE


def tolerant(op: Callable[[Any, Any], Any], fallback: Any) -> Callable[[Any, Any], Any]:
    """``op`` for a value of unknown type (an extra column), giving ``fallback`` on a type mismatch.

    A text where a number was expected makes the condition false (or the value missing) instead of
    a TypeError in the middle of a check.
    """

    def apply(left: Any, right: Any) -> Any:
        try:
            return op(left, right)
        except TypeError:
            return fallback

    return apply


def shift(value: Any, step: dt.timedelta) -> Any:
    """``value + step``, or nothing when it leaves the calendar (a date near year 1 or 9999)."""
    if value is None:
        return None
    try:
        return value + step
    except OverflowError:
        return None


def shift_months(value: Any, months: int) -> Any:
    """``value`` moved by whole months, the day kept or cut to the month's last; nothing off the calendar."""
    if value is None:
        return None
    total = value.year * 12 + (value.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        return None
    day = min(value.day, monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


def tolerant_membership(
    get: Callable[[Any], Any], values: frozenset[Any], negated: bool
) -> Callable[[Any], bool]:
    """``value in values`` (or ``not in``) for a value of unknown type: a list (JSON) is in no set."""

    def test(event: Any) -> bool:
        value = get(event)
        if value is None:
            return False
        try:
            return (value not in values) if negated else (value in values)
        except TypeError:
            return negated

    return test
