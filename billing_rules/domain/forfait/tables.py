"""The yearly forfait médecin traitant per patient: FPMT categories until 2025, FMT from 2026.

The amounts are effective-dated tariff rows of pseudo-codes (``FORFAIT-ALD-UNDER-80``...), declared
in the rule files like any tariff: a new convention is a new row, not new code. This module only
decides which category a patient falls in, which depends on the table in force (the FMT of 2026
splits 7-79 into 7-74 and 75-79).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs

from billing_rules.domain.tariffs import Tariff, TariffTable
from billing_rules.model import age_on
from billing_rules.money import round_cents

PREFIX = "FORFAIT-"
C2S_CODE = "FORFAIT-C2S"
"""Yearly majoration per patient covered by the complémentaire santé solidaire (C2S)."""

UNSETTLED_MARK = "INCERTAIN"
"""Written in a forfait row's ``source`` when no official text settles the amount: reports flag it."""
# Category names of SPEC §6, in the order reports list them.
CATEGORIES: dict[str, str] = {
    "child_0_6": "FORFAIT-CHILD-0-6",
    "adult_7_79": "FORFAIT-ADULT-7-79",
    "adult_7_74": "FORFAIT-ADULT-7-74",
    "adult_75_79": "FORFAIT-ADULT-75-79",
    "over_80": "FORFAIT-OVER-80",
    "ald_under_80": "FORFAIT-ALD-UNDER-80",
    "ald_80_plus": "FORFAIT-ALD-80-PLUS",
    "not_seen_2_years": "FORFAIT-NOT-SEEN-2-YEARS",
}

#: FMT majorations as rates of the categories' total (SPEC §6), by the name reports give them.
RATE_MAJORATIONS: dict[str, str] = {
    "age_67_or_zip": "FORFAIT-MAJ-67-OR-ZIP",
    "zip_first_installation_year_1": "FORFAIT-MAJ-ZIP-YEAR-1",
    "zip_first_installation_year_2": "FORFAIT-MAJ-ZIP-YEAR-2",
}

RATE_CODES: frozenset[str] = frozenset(RATE_MAJORATIONS.values())
"""Tariff codes whose amount is a rate (0.10 is +10 %), not euros: reports must not print them as euros."""


def format_rate(rate: Decimal) -> str:
    """``Decimal("0.10")`` → ``+10 %``, ``0.125`` → ``+12,5 %``: a majoration rate as people read it."""
    percent = (rate * 100).normalize()
    text = f"{percent:f}".replace(".", ",")
    return f"{'+' if percent > 0 else ''}{text} %"


@attrs.frozen
class PractitionerFacts:
    """What the FMT majorations read about the doctor (the practice configuration, SPEC §6)."""

    birth_date: dt.date | None = None
    zip: bool = False
    installed_on: dt.date | None = None

    def majorations(self, year: int) -> tuple[str, ...]:
        """The rate majorations this doctor earns on the forfait of ``year`` (names of RATE_MAJORATIONS).

        +10 % for a doctor aged 67 or more on 31 December or practising in a ZIP (one majoration,
        whichever holds); +50 % the calendar year of a first installation in a ZIP, +30 % the next.
        """
        names = []
        day = dt.date(year, 12, 31)
        old = self.birth_date is not None and age_on(self.birth_date, day) >= 67
        if old or self.zip:
            names.append("age_67_or_zip")
        if self.zip and self.installed_on is not None:
            if year == self.installed_on.year:
                names.append("zip_first_installation_year_1")
            elif year == self.installed_on.year + 1:
                names.append("zip_first_installation_year_2")
        return tuple(names)


def not_seen_window_start(year: int) -> dt.date:
    """First day of the two years ending on 31 December of ``year`` (SPEC §6: not seen for 2 years).

    Last seen that day, an MT patient keeps their category for ``year``; the day before, they fall
    to the ``not_seen_2_years`` amount. The window is fixed by the year, not by today's date.
    """
    return dt.date(year - 1, 1, 1)


def not_seen_since(last_seen: dt.date, year: int) -> bool:
    """Whether a patient last seen on ``last_seen`` had no invoice in the two years ending 31/12/``year``."""
    return last_seen < not_seen_window_start(year)


@attrs.frozen
class ForfaitTables:
    """Category of a patient and its yearly amount, read from the loaded tariff rows."""

    tariffs: TariffTable

    def category(self, *, day: dt.date, age: int, ald: bool, last_seen: dt.date | None = None) -> str:
        """SPEC §6 category of a patient of ``age`` on ``day`` (ALD first, then age bands).

        Under the FMT, an MT patient not seen in the two years ending on ``day`` (31 December) is
        paid the ``not_seen_2_years`` amount whatever the age or ALD; ``last_seen`` None: unknown,
        so the patient is taken as seen.
        """
        if (
            last_seen is not None
            and not_seen_since(last_seen, day.year)
            and self.tariffs.on(CATEGORIES["not_seen_2_years"], day) is not None
        ):
            return "not_seen_2_years"
        if ald:
            return "ald_80_plus" if age >= 80 else "ald_under_80"
        if age >= 80:
            return "over_80"
        if age <= 6:
            return "child_0_6"
        if self.tariffs.on(CATEGORIES["adult_7_74"], day) is not None:
            return "adult_75_79" if age >= 75 else "adult_7_74"
        return "adult_7_79"

    def amount(self, category: str, day: dt.date) -> Decimal | None:
        """Yearly amount of one patient of ``category`` under the table in force on ``day``."""
        return self.tariffs.on(CATEGORIES[category], day)

    def row(self, code: str, day: dt.date) -> Tariff | None:
        """The tariff row of ``code`` in force on ``day``: its source tells whether it is settled."""
        amount = self.tariffs.on(code, day)
        if amount is None:
            return None
        rows = [row for row in self.tariffs.rows(code) if row.start <= day]
        return rows[-1] if rows else None

    def settled(self, code: str, day: dt.date) -> bool:
        """False when the row in force is marked :data:`UNSETTLED_MARK` (or there is none)."""
        row = self.row(code, day)
        return row is not None and UNSETTLED_MARK not in (row.source or "").upper()

    def rate(self, name: str, day: dt.date) -> Decimal | None:
        """The rate of a majoration of :data:`RATE_MAJORATIONS` in force on ``day``, if any."""
        return self.tariffs.on(RATE_MAJORATIONS[name], day)

    def rates(self, practitioner: PractitionerFacts | None, year: int) -> tuple[tuple[str, Decimal], ...]:
        """The rate majorations ``practitioner`` earns on the forfait of ``year``, with their rates.

        Only those with a row in force on 31 December (none under the FPMT): the estimate shows each
        as its own line, and :meth:`majoration_scale` sums them, so both read the same list.
        """
        if practitioner is None:
            return ()
        day = dt.date(year, 12, 31)
        found = ((name, self.rate(name, day)) for name in practitioner.majorations(year))
        return tuple((name, rate) for name, rate in found if rate is not None)

    def majoration_scale(self, practitioner: PractitionerFacts | None, year: int) -> Decimal:
        """1 plus the rates of :meth:`rates`: they apply to the categories' total and add up (SPEC §6).

        The one place that turns the doctor's facts into a factor, so that every forfait euro the
        report shows beside the total (what-if levers, candidates) is scaled as the total is.
        """
        return Decimal("1") + sum((rate for _, rate in self.rates(practitioner, year)), Decimal("0"))

    def scaled(self, amount: Decimal, year: int, practitioner: PractitionerFacts | None) -> Decimal:
        """``amount`` of categories' forfait for ``year`` with the doctor's rate majorations, to the cent."""
        return round_cents(amount * self.majoration_scale(practitioner, year))

    def categories_on(self, day: dt.date) -> tuple[str, ...]:
        """The categories the table in force on ``day`` pays, in report order."""
        return tuple(name for name, code in CATEGORIES.items() if self.tariffs.on(code, day) is not None)

    def amount_for(
        self, *, year: int, age: int, ald: bool, birth_date: dt.date | None = None
    ) -> Decimal | None:
        """Amount for a patient, the table being the one in force during ``year``."""
        day = dt.date(year, 12, 31)
        return self.amount(self.category(day=day, age=age, ald=ald), day)
