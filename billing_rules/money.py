"""Euro amounts as billing staff read them and as programs read them.

Two outputs, two conventions: people get French typography (``1 234,50 €``); JSON gets plain numbers
rounded to the cent (``1234.5``). Both round the same way, so a text report and a JSON report of the
same check never disagree on a total.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import ROUND_HALF_UP, Decimal

# NOTE: the Imprimerie nationale (and CLDR) use a narrow no-break space (U+202F) between thousands.
# We use the plain no-break space (U+00A0) instead, for both the thousands and the euro sign: French
# offices still open text reports in Windows-1252 tools (Notepad, older Excel imports), which can
# encode U+00A0 but not U+202F; the line never breaks inside an amount either way.
THOUSANDS_SEPARATOR = "\u00a0"
"""Groups the thousands: ``1 234 567,00 €``."""

CURRENCY_SEPARATOR = "\u00a0"
"""Keeps the euro sign on the same line as its amount."""

CENT = Decimal("0.01")
"""The precision of every euro amount we print."""


def round_cents(amount: Decimal | int) -> Decimal:
    """Round to the cent, half away from zero, the way invoices and CPAM statements round.

    Python's default (banker's rounding) would turn 0,125 € into 0,12 €: correct for statistics,
    surprising on a bill.
    """
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


@functools.lru_cache(maxsize=4096)  # a few tariffs' worth of amounts come back again and again
def from_cents(cents: Decimal | int) -> Decimal:
    """Cents (the engines' columns) back to the euros a reader gave: ``2650`` is ``Decimal('26.50')``.

    Two decimals for whole cents, as the readers keep them; a finer amount (an old ledger row, a
    kilometre count) keeps its own digits, without trailing zeros.
    """
    value = Decimal(cents) / 100
    whole = value.quantize(CENT)
    return whole if value == whole else value.normalize()


@functools.lru_cache(maxsize=4096)  # a report words the same few tariffs thousands of times
def format_euros(amount: Decimal | int) -> str:
    """French money formatting for people: ``Decimal("1234.5")`` → ``"1 234,50 €"``.

    Always two decimals, since billing staff compare amounts against tariffs printed that way
    (``26,50 €``); the spaces are no-break spaces (see :data:`THOUSANDS_SEPARATOR`).

    Args:
        amount: euros; rounded to the cent first.

    Returns:
        The amount with a comma as decimal mark, grouped thousands and a trailing ``€``.
    """
    cents = round_cents(amount)
    sign = "-" if cents < 0 else ""
    units, _, decimals = f"{abs(cents):.2f}".partition(".")
    groups = []
    while len(units) > 3:
        groups.insert(0, units[-3:])
        units = units[:-3]
    groups.insert(0, units)
    return f"{sign}{THOUSANDS_SEPARATOR.join(groups)},{decimals}{CURRENCY_SEPARATOR}€"


def euros_to_json(amount: Decimal | int) -> float:
    """A JSON number for an amount, rounded to the cent (SPEC §2: ``120.0``, ``78.5``).

    Rounding happens on the Decimal, before the conversion, so the float is the nearest double to a
    whole number of cents and prints as such. Zero is never negative (``-0.0`` would puzzle readers).
    """
    value = float(round_cents(amount))
    return value if value != 0 else 0.0


def french_date(day: dt.date) -> str:
    """``dd/mm/yyyy``, the way dates appear on a feuille de soins: for every text people read.

    Contract fields (the JSON ``date``) stay ISO; only human text uses this.
    """
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"
