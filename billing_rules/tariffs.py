"""Effective-dated tariffs and code validity: an invoice is judged by the texts in force on its date."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

import attrs


@attrs.frozen
class Tariff:
    """One tariff row: ``amount`` euros for ``code`` from ``start`` to ``end`` (included, or open)."""

    code: str
    amount: Decimal
    start: dt.date
    end: dt.date | None = None
    source: str | None = None
    origin: str = "builtin"


@attrs.frozen
class CodeInfo:
    """A known code, its label and the periods in which it exists (empty: always existed)."""

    code: str
    label: str | None = None
    periods: tuple[tuple[dt.date, dt.date | None], ...] = ()
    origin: str = "builtin"

    def exists_on(self, day: dt.date) -> bool:
        """False only where the texts say the code did not exist yet, or no longer."""
        if not self.periods:
            return True
        return any(start <= day and (end is None or day <= end) for start, end in self.periods)


class TariffTable:
    """Tariffs by code; each row runs until its explicit end or the day before the next row starts."""

    def __init__(self, rows: Iterable[Tariff] = ()) -> None:
        self._rows: dict[str, list[Tariff]] = {}
        self._starts: dict[str, list[dt.date]] = {}
        for row in rows:
            self._rows.setdefault(row.code, []).append(row)
        for code, items in self._rows.items():
            items.sort(key=lambda row: row.start)
            self._starts[code] = [row.start for row in items]

    def __contains__(self, code: str) -> bool:
        return code in self._rows

    def codes(self) -> frozenset[str]:
        """Every code that has at least one tariff row."""
        return frozenset(self._rows)

    def rows(self, code: str) -> tuple[Tariff, ...]:
        """The rows of one code, oldest first."""
        return tuple(self._rows.get(code, ()))

    def on(self, code: str, day: dt.date) -> Decimal | None:
        """The tariff in force on ``day``, or None where the code has none then."""
        starts = self._starts.get(code)
        if not starts:
            return None
        index = bisect.bisect_right(starts, day) - 1
        if index < 0:
            return None
        row = self._rows[code][index]
        if row.end is not None and day > row.end:
            return None
        return row.amount

    def nearest(self, code: str, day: dt.date) -> Decimal | None:
        """The tariff in force, else the next one to come, else the last one.

        That is what a code billed outside its validity would have claimed: the euros at risk of
        CODE-DATE.
        """
        amount = self.on(code, day)
        if amount is not None:
            return amount
        starts = self._starts.get(code)
        if not starts:
            return None
        index = bisect.bisect_right(starts, day)
        rows = self._rows[code]
        return rows[index].amount if index < len(rows) else rows[-1].amount

    def total(self, codes: Iterable[str], day: dt.date) -> Decimal | None:
        """Sum of the tariffs of ``codes`` on ``day``; None as soon as one code has no tariff."""
        total = Decimal("0")
        for code in codes:
            amount = self.on(code, day)
            if amount is None:
                return None
            total += amount
        return total
