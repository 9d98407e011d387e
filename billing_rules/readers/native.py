"""Invoices handed to the API as Python values: read exactly as a billing file's rows are.

Practice software holds typed values (``datetime.date``, ``Decimal``, the model's enums), a file
holds text. Each native value is turned into the spelling a file would hold, and the row then goes
through the one SPEC §1 reader of every format (:func:`billing_rules.readers.rows.event_from_row`):
one validation, one set of French messages (a date out of range, a birth after the act...), and an
invoice the API accepts is one a file could hold (``ledger export`` then ``check`` reads it back).

What each Python type means, by column (anything else goes to the reader as it is, which refuses
it with its usual message):

* ``date``, ``birth_date``: a ``datetime.date``. A ``datetime.datetime`` is refused: which day a
  date-time falls on depends on its time zone, and its time would be silently dropped; give
  ``value.date()`` (and the act's hour in ``time``).
* ``time``: a naive ``datetime.time``; ``referral_at``: a naive ``datetime.datetime`` (the local
  time of the act, as in a file). Both are taken to the second; an aware one is refused (the
  act's own time carries no zone to compare it with).
* ``amount``: a ``Decimal``, an ``int``, or a ``float`` whose shortest spelling is a whole number
  of cents (``41.55``); ``0.1 + 0.2`` is refused rather than rounded: money is not guessed. A
  ``Decimal`` finer than the cent (``29.999``) is refused as a file's amount is, in a hand-built
  ``Event`` too.
* ``mt_status``, ``place``, ``sector``, ``status``: a member of their enum (:class:`MtStatus`...).
* ``codes``: a list or a tuple of codes; booleans: ``bool``; identifiers: ``str`` or ``int``.
* ``None`` is an empty value: the column's default, or a missing required value.

Text values are scanned as the format readers scan a file's: a NUL, a lone surrogate (half a
UTF-16 pair) or U+FFFD (the mark of bytes that were not decoded) in any value, or a column name
that is not text, refuses the invoice with the readers' own messages. An :class:`Event` built by
hand is scanned the same way before it is checked or stored.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TypedDict

from billing_rules.errors import InvalidInvoice
from billing_rules.model import Event, InputError, MtStatus, Place, Sector, Status
from billing_rules.readers.base import ROW_FIELD, RawRow
from billing_rules.readers.encoding import unreadable_values
from billing_rules.readers.rows import KNOWN_COLUMNS, event_from_row
from billing_rules.readers.values import REFERRAL_TIME, beyond_the_cent

__all__ = ["InvoiceValues", "as_event", "invoice"]


class _RequiredValues(TypedDict):
    invoice_id: str | int
    date: dt.date | str
    practitioner_id: str | int
    patient_id: str | int
    birth_date: dt.date | str
    codes: str | Sequence[str]


class InvoiceValues(_RequiredValues, total=False):
    """The SPEC §1 columns of one invoice, as typed Python values (or their file spellings).

    For a type checker only: ``check_one`` and ``record`` take any mapping (a plain ``dict``
    may also carry extra columns for plugins), and check every value at run time.
    """

    time: dt.time | str | None
    specialty: str | None
    sector: Sector | int | str | None
    ald: bool | str | None
    palliative: bool | str | None
    neurodegenerative: bool | str | None
    mt_status: MtStatus | str | None
    declares_mt: bool | str | None
    place: Place | str | None
    homebound: bool | str | None
    amount: Decimal | int | float | str | None
    regulated: bool | str | None
    referral_at: dt.datetime | str | None
    status: Status | str | None
    discharge_date: dt.date | str | None
    km: Decimal | int | float | str | None


_NOT_AN_INVOICE = "facture attendue : un dictionnaire de ses colonnes (SPEC §1) ou un Event, reçu {}"
_BAD_KEY = "nom de colonne illisible (chaque nom de colonne doit être un texte)"
_ENUMS: dict[str, type[enum.Enum]] = {
    "mt_status": MtStatus,
    "place": Place,
    "sector": Sector,
    "status": Status,
}


class _Refused(Exception):
    """A native value the API refuses before the reader sees it; ``message`` is French."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _day(value: object) -> object:
    if isinstance(value, dt.datetime):
        raise _Refused("date attendue, reçu une date-heure : donnez sa date (valeur.date())")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _naive(value: dt.time | dt.datetime) -> None:
    if value.utcoffset() is not None:
        what = "date-heure" if isinstance(value, dt.datetime) else "heure"
        raise _Refused(f"{what} avec fuseau horaire : donnez l'heure locale de l'acte, sans fuseau")


def _time(value: object) -> object:
    if isinstance(value, dt.time):
        _naive(value)
        return value.replace(microsecond=0).isoformat()
    return value


def _moment(value: object) -> object:
    if isinstance(value, dt.datetime):
        _naive(value)
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, dt.date):
        raise _Refused("date-heure attendue, reçu une date sans heure (ex. 2024-03-04T09:30)")
    return value


def _amount(value: object) -> object:
    if isinstance(value, Decimal):
        # Written out without an exponent (the reader takes digits only); a non-finite or huge
        # value keeps its own spelling, which the reader refuses with its usual message.
        if value.is_finite() and value.adjusted() < 12:
            return format(value, "f")
        return str(value)
    if type(value) is float and value == value and abs(value) != float("inf"):
        # A float is what the program computed, not what it meant: only a whole number of cents
        # (in its shortest spelling, as a JSON file would hold it) is taken at its word.
        if beyond_the_cent(Decimal(repr(value)), value) is not None:
            raise _Refused(
                f"montant en nombre flottant qui n'est pas un nombre de centimes ({value!r}) : "
                'donnez un Decimal (Decimal("26.50")) ou un texte'
            )
    return value


def _kilometres(value: object) -> object:
    """Kilometres are no money: any finite float is taken as written (its shortest spelling)."""
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() and value.adjusted() < 12 else str(value)
    return value


def _codes(value: object) -> object:
    if isinstance(value, tuple):
        return list(value)
    return value


_NATIVES = {
    "date": _day,
    "birth_date": _day,
    "time": _time,
    "referral_at": _moment,
    "amount": _amount,
    "codes": _codes,
    "discharge_date": _day,
    "km": _kilometres,
}


def _native(column: str, value: object) -> object:
    """``value`` in the spelling a file would hold for ``column``; raises :class:`_Refused`."""
    if value is None or type(value) is str or type(value) is bool or type(value) is int:
        return value
    kind = _ENUMS.get(column)
    if kind is not None and isinstance(value, kind):
        return value.value
    if isinstance(value, str):  # a subclass of str (a user's str enum...): its text
        return str.__str__(value)
    if isinstance(value, enum.Enum):  # another enum: the reader names the value it did not expect
        return value
    convert = _NATIVES.get(column)
    return value if convert is None else convert(value)


def invoice(values: object, *, seq: int = 0) -> Event:
    """An :class:`Event` from SPEC §1 column values (text spellings or typed Python values).

    Raises :class:`~billing_rules.errors.InvalidInvoice` listing every bad field, so the user
    fixes them all at once; something else than a mapping is one error about the whole invoice.
    """
    if not isinstance(values, Mapping):
        raise InvalidInvoice([_row_error(_NOT_AN_INVOICE.format(type(values).__name__))])
    if not all(type(key) is str for key in values):
        raise InvalidInvoice([_row_error(_BAD_KEY)])
    converted: dict[str, object] = {}
    refused: list[tuple[str, str]] = []
    for column, value in values.items():
        try:
            if column == REFERRAL_TIME:  # a referral's time alone (SPEC §1b): a time of day
                converted[column] = _native("time", value)
            else:
                converted[column] = _native(column, value) if column in KNOWN_COLUMNS else value
        except _Refused as exc:
            converted[column] = value
            refused.append((column, exc.message))
    # The scan of the format readers: their problems are reported as they are, in their place.
    problems = unreadable_values(converted, keys=True)
    damaged = {field for field, _ in problems}
    problems += tuple((field, message) for field, message in refused if field not in damaged)
    result = event_from_row(RawRow(line=None, values=converted, file=None, problems=problems), seq)
    if isinstance(result, Event):
        return result
    raise InvalidInvoice(result)


def as_event(value: object) -> Event:
    """``value`` as a checked :class:`Event`: a mapping is read, an ``Event`` scanned for bad text."""
    if not isinstance(value, Event):
        return invoice(value)
    texts: dict[str, object] = {
        "invoice_id": value.invoice_id,
        "practitioner_id": value.practitioner_id,
        "specialty": value.specialty,
        "patient_id": value.patient_id,
        "codes": list(value.codes),
    }
    extra = {key: item for key, item in value.extra.items() if type(key) is str}
    problems = unreadable_values(texts) + unreadable_values(extra, keys=True)
    if isinstance(value.amount, Decimal):  # as a file's amount: whole cents
        fault = beyond_the_cent(value.amount, format(value.amount, "f"))
        if fault is not None:
            problems += (("amount", fault),)
    if problems:
        raise InvalidInvoice(
            [
                InputError(line=value.line, field=field, message=message, file=value.file)
                for field, message in problems
            ]
        )
    return value


def _row_error(message: str) -> InputError:
    return InputError(line=None, field=ROW_FIELD, message=message)
