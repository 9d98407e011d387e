"""Effective-dated tariffs and code validity: an invoice is judged by the texts in force on its date."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

import attrs

_CENT = Decimal("0.01")
#: The start of a row that applies at every date (no act is dated before 1900, see the readers).
ALWAYS = dt.date(1900, 1, 1)


@attrs.frozen
class Tariff:
    """One tariff row: ``amount`` euros for ``code`` from ``start`` to ``end`` (included, or open).

    ``unit`` ``"km"`` makes ``amount`` a rate per kilometre billed (IK: the invoice's ``km``).
    ``sector`` makes the row apply to that convention sector only, in place of the general rows of
    the code (the secteur-2 G at 23 € beside the G at 30 €); None applies to every sector.
    """

    code: str
    amount: Decimal
    start: dt.date
    end: dt.date | None = None
    source: str | None = None
    origin: str = "builtin"
    unit: str | None = None
    sector: str | None = None


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

    def fixed_on(self, day: dt.date) -> CodeInfo:
        """The code as the texts of ``day`` have it, for every date: always there, or never.

        A simulation under the texts of one day (SPEC §7) judges every invoice by them: a code
        absent that day must not be suggested by an opportunity either, whatever the act's date.
        """
        return attrs.evolve(self, periods=() if self.exists_on(day) else NEVER)


#: The periods of a code that exists on no date at all (a start after every end).
NEVER: tuple[tuple[dt.date, dt.date | None], ...] = ((dt.date.max, dt.date.min),)


class TariffTable:
    """Tariffs by code; each row runs until its explicit end or the day before the next row starts.

    Rows for one sector form their own series beside the general one: on a date where the
    invoice's sector has a row in force, that row prices the code; elsewhere the general row does.
    """

    def __init__(self, rows: Iterable[Tariff] = ()) -> None:
        self._rows: dict[str, list[Tariff]] = {}
        self._starts: dict[str, list[dt.date]] = {}
        self._sector_rows: dict[tuple[str, str], list[Tariff]] = {}
        self._sector_starts: dict[tuple[str, str], list[dt.date]] = {}
        self._per_km: set[str] = set()
        self._totals: dict[tuple[tuple[str, ...], dt.date, str | None, Decimal | None], Decimal | None] = {}
        for row in rows:
            if row.sector is None:
                self._rows.setdefault(row.code, []).append(row)
            else:
                self._sector_rows.setdefault((row.code, row.sector), []).append(row)
            if row.unit == "km":
                self._per_km.add(row.code)
        for series, starts in ((self._rows, self._starts), (self._sector_rows, self._sector_starts)):
            for key, items in series.items():
                items.sort(key=lambda row: row.start)
                starts[key] = [row.start for row in items]  # type: ignore[index]

    def __contains__(self, code: str) -> bool:
        return code in self._rows or any(key[0] == code for key in self._sector_rows)

    def codes(self) -> frozenset[str]:
        """Every code that has at least one tariff row."""
        return frozenset(self._rows) | {code for code, _ in self._sector_rows}

    def rows(self, code: str) -> tuple[Tariff, ...]:
        """The rows of one code, oldest first, the sector rows after the general ones."""
        sectors = sorted(key for key in self._sector_rows if key[0] == code)
        return tuple(self._rows.get(code, ())) + tuple(
            row for key in sectors for row in self._sector_rows[key]
        )

    def as_of(self, day: dt.date) -> TariffTable:
        """The rows in force on ``day``, each made to apply at every date: "the texts of ``day``".

        What a simulation under other texts prices invoices with (SPEC §7); a code without a row
        in force on ``day`` has no tariff at all.
        """
        frozen = []
        for series in (*self._rows.values(), *self._sector_rows.values()):
            row = _in_force(series, [item.start for item in series], day)
            if row is not None:
                frozen.append(attrs.evolve(row, start=ALWAYS, end=None))
        return TariffTable(frozen)

    def per_km(self, code: str) -> bool:
        """Whether the code is priced per kilometre (its amount needs the invoice's ``km``)."""
        return code in self._per_km

    def on(self, code: str, day: dt.date, sector: str | None = None) -> Decimal | None:
        """The tariff (or rate per km) in force on ``day`` for ``sector``, or None if none then."""
        if sector is not None and self._sector_rows:
            key = (code, sector)
            found = _in_force(self._sector_rows.get(key), self._sector_starts.get(key), day)
            if found is not None:
                return found.amount
        row = _in_force(self._rows.get(code), self._starts.get(code), day)
        return row.amount if row is not None else None

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

    def total(
        self, codes: Iterable[str], day: dt.date, *, sector: str | None = None, km: Decimal | None = None
    ) -> Decimal | None:
        """Sum of the tariffs of ``codes`` on ``day``; None as soon as one code has no tariff.

        A code priced per kilometre counts ``km`` times its rate, rounded to the cent; without
        ``km`` its amount is unknown, so the total is too (SPEC §1: IK is compared only when
        ``km`` is given).
        """
        total = Decimal("0")
        for code in codes:
            amount = self.on(code, day, sector)
            if amount is None:
                return None
            if code in self._per_km:
                if km is None:
                    return None
                amount = (amount * km).quantize(_CENT, rounding=ROUND_HALF_UP)
            total += amount
        return total

    def remembered_total(
        self, codes: tuple[str, ...], day: dt.date, *, sector: str | None = None, km: Decimal | None = None
    ) -> Decimal | None:
        """:meth:`total`, remembered in this table for the next invoice billing the same.

        A file bills a few dozen codings over a few hundred days, and both AMOUNT rules ask for the
        total of every invoice. The memo lives and dies with the table: a module-level one keyed
        by the table kept every table it had seen alive, one per validator a process builds (a
        server reloading its configuration, a test suite). Bounded, since an odd input could
        otherwise grow it without limit.
        """
        key = (codes, day, sector, km)
        try:
            return self._totals[key]
        except KeyError:
            pass
        total = self.total(codes, day, sector=sector, km=km)
        if len(self._totals) >= _TOTALS_MAX:
            self._totals.clear()
        self._totals[key] = total
        return total


#: Totals a table remembers (:meth:`TariffTable.remembered_total`) before it forgets them all.
_TOTALS_MAX = 100_000


def _in_force(rows: list[Tariff] | None, starts: list[dt.date] | None, day: dt.date) -> Tariff | None:
    """The row of a series in force on ``day``: the last one started, unless it has ended."""
    if not starts or rows is None:
        return None
    index = bisect.bisect_right(starts, day) - 1
    if index < 0:
        return None
    row = rows[index]
    if row.end is not None and day > row.end:
        return None
    return row


CCAM_LENGTH = 7


def is_ccam_code(code: str) -> bool:
    """CCAM acts (four letters, three digits) are known codes without an NGAP rule (SPEC §5)."""
    return len(code) == CCAM_LENGTH and code[:4].isalpha() and code[4:].isdigit()
