"""One SPEC §1 value: the column table, each column's parser and memo, and their French errors.

The readers of every format read a row through :func:`billing_rules.readers.rows.event_from_row`,
which reads each value here; the fast paths (``positional``, ``lines``, ``columns``) read single
values with :func:`value_of` and :func:`read_value`, through the same parsers and memos, so a value
reads the same on every path. This runs once per value on inputs of a million rows, hence the
shape of the code: dictionary lookups instead of regular expressions, a fast path for the
spellings exports actually use (``2024-03-04``, ``0``/``1``, lower-case enums) before the lenient
slow path, and exceptions only for bad values.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from billing_rules.model import MtStatus, Place, Sector, Status
from billing_rules.money import CENT
from billing_rules.readers.json_numbers import ExactNumber

MISSING = "valeur obligatoire manquante"
_QUOTE_MAX = 60


class BlankValue(Exception):
    """The value is only spaces: treated like an empty cell (the column's default)."""


class InvalidValue(Exception):
    """The value cannot be read; ``message`` is the French text of the input error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _quote(value: Any) -> str:
    """``« value »`` for a message: one line, shortened, JSON spelling for non-strings."""
    if isinstance(value, str):
        text = value.strip()[: _QUOTE_MAX * 4]
    elif isinstance(value, ExactNumber):
        text = str(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (RecursionError, ValueError):  # nested too deep to print: the kind is enough
            text = "[…]" if isinstance(value, list) else "{…}"
    if "\n" in text or "\r" in text or "\t" in text:
        text = " ".join(text.split())
    if len(text) > _QUOTE_MAX:
        text = text[: _QUOTE_MAX - 1] + "…"
    if not text.isprintable():
        # Control and format characters (a terminal escape, a right-to-left override) would act
        # on the screen that shows the report instead of being seen: show them as "?".
        text = "".join(char if char.isprintable() or char.isspace() else "?" for char in text)
    return f"« {text} »"


def _stripped(value: str) -> str:
    text = value.strip()
    if not text:
        raise BlankValue
    return text


# --- text -------------------------------------------------------------------------------------


def read_text(value: Any) -> str:
    """Identifiers: a string, or a JSON integer (ids are often numeric in JSON exports)."""
    if type(value) is str:
        return _stripped(value)
    if type(value) is int:
        return str(value)
    raise InvalidValue(f"texte attendu, reçu {_quote(value)}")


def read_private_text(value: Any) -> str:
    """Like :func:`read_text`, for patient identifiers, whose value never appears in a message."""
    if type(value) is str:
        return _stripped(value)
    if type(value) is int:
        return str(value)
    raise InvalidValue("texte attendu (la valeur n'est pas du texte)")


def _specialty(value: Any) -> str:
    return read_text(value).upper()


# --- dates and times --------------------------------------------------------------------------

_fromisoformat = dt.date.fromisoformat
_time_fromisoformat = dt.time.fromisoformat


def _parse_date(text: str) -> dt.date | None:
    """``2024-03-04`` or ``04/03/2024`` (also ``4/3/2024``); None if neither."""
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            return _fromisoformat(text)
        except ValueError:
            return None
    parts = text.split("/")
    if len(parts) == 3:
        day, month, year = parts
        if (
            0 < len(day) <= 2
            and 0 < len(month) <= 2
            and len(year) == 4
            and text.isascii()
            and (day + month + year).isdigit()
        ):
            try:
                return dt.date(int(year), int(month), int(day))
            except ValueError:
                return None
    return None


def _parse_time(text: str) -> dt.time | None:
    """``HH:MM`` or ``HH:MM:SS`` (also ``9:30``); None otherwise."""
    size = len(text)
    if size == 4 and text[1] == ":":
        text = "0" + text
        size = 5
    if (size == 5 and text[2] == ":") or (size == 8 and text[2] == ":" and text[5] == ":"):
        if text.isascii() and text.replace(":", "").isdigit():
            try:
                return _time_fromisoformat(text)
            except ValueError:
                return None
    return None


def read_date(value: Any) -> dt.date:
    """A date (``2024-03-04`` or ``04/03/2024``); its error quotes the value."""
    if type(value) is str:
        if len(value) == 10 and value[4] == "-" and value[7] == "-":  # fast path: ISO, no spaces
            try:
                return _fromisoformat(value)
            except ValueError:
                raise InvalidValue(f"date invalide {_quote(value)}") from None
        parsed = _parse_date(_stripped(value))
        if parsed is not None:
            return parsed
    raise InvalidValue(f"date invalide {_quote(value)}")


#: Range of act dates. An act outside it is an export fault (``0001-01-01`` and ``9999-12-31``
#: are the usual "unknown" and "no end" placeholders), and window arithmetic near the limits of
#: ``datetime`` (12 months before 1 January of year 1) would fail in the rules instead.
ACT_DATE_MIN = dt.date(1900, 1, 1)
ACT_DATE_MAX = dt.date(2199, 12, 31)


def _act_date(value: Any) -> dt.date:
    day = read_date(value)
    if not ACT_DATE_MIN <= day <= ACT_DATE_MAX:
        years = f"{ACT_DATE_MIN.year} et {ACT_DATE_MAX.year}"
        raise InvalidValue(f"date hors limites {_quote(value)} (un acte est daté entre {years})")
    return day


def read_time(value: Any) -> dt.time:
    """A time of day (``09:30``, ``9:30``, ``09:30:15``); its error quotes the value."""
    return _time(value)


def read_datetime(value: Any) -> dt.datetime:
    """A date and time, as ``referral_at`` reads it; its error quotes the value."""
    return _datetime(value)


def read_birth_date(value: Any) -> dt.date:
    """Like :func:`read_date`, for birth dates, whose value never appears in a message (patient data)."""
    try:
        return read_date(value)
    except InvalidValue:
        raise InvalidValue(
            "date de naissance invalide (valeur non reproduite ; attendu : AAAA-MM-JJ ou JJ/MM/AAAA)"
        ) from None


def _time(value: Any) -> dt.time:
    if type(value) is str:
        parsed = _parse_time(_stripped(value))
        if parsed is not None:
            return parsed
    raise InvalidValue(f"heure invalide {_quote(value)}")


def _datetime(value: Any) -> dt.datetime:
    """``2024-03-04T09:30``, ``2024-03-04 09:30``, ``04/03/2024 09:30`` (seconds allowed)."""
    if type(value) is str:
        text = _stripped(value)
        if len(text) > 11 and text[10] in "T ":
            date_part, time_part = text[:10], text[11:].strip()
        else:
            pieces = text.split(None, 1)
            date_part, time_part = (pieces[0], pieces[1]) if len(pieces) == 2 else (text, "")
        day = _parse_date(date_part)
        moment = _parse_time(time_part) if time_part else None
        if day is not None and moment is not None:
            return dt.datetime.combine(day, moment)
        if day is not None and not time_part:
            raise InvalidValue(
                f"date-heure invalide {_quote(value)} : une date sans heure (attendu : 2024-03-04T09:30 "
                "ou 04/03/2024 09:30, ou l'heure dans une colonne « Heure de régulation »)"
            )
    raise InvalidValue(
        f"date-heure invalide {_quote(value)} (attendu : 2024-03-04T09:30 ou 04/03/2024 09:30)"
    )


# --- booleans, numbers, enums -------------------------------------------------------------------

_BOOLEANS: dict[str, bool] = {}
for _spellings, _meaning in (
    (("1", "true", "oui", "yes", "o", "vrai"), True),
    (("0", "false", "non", "no", "n", "faux"), False),
):
    for _spelling in _spellings:
        _BOOLEANS[_spelling] = _meaning
        _BOOLEANS[_spelling.upper()] = _meaning
        _BOOLEANS[_spelling.capitalize()] = _meaning


_BOOL_MESSAGE = "valeur oui/non invalide {} (attendu : 1/0, oui/non, true/false)"


def read_bool(value: Any) -> bool:
    """A yes/no value (``1``/``0``, ``oui``/``non``, ``true``/``false``, JSON booleans)."""
    if type(value) is str:
        result = _BOOLEANS.get(_stripped(value).lower())
        if result is None:
            raise InvalidValue(_BOOL_MESSAGE.format(_quote(value)))
        return result
    if type(value) is bool:
        return value
    if type(value) in (int, float) and value in (0, 1):
        return bool(value)
    raise InvalidValue(_BOOL_MESSAGE.format(_quote(value)))


_THOUSANDS = str.maketrans("", "", " \u00a0\u202f")

#: Smallest amount refused as absurd. No general-practice invoice comes near it, and much larger
#: values (``1e308``, a field of a million digits) exceed what euro arithmetic at 28 significant
#: digits can round to the cent: such a value is an export fault, reported on its row.
AMOUNT_LIMIT = Decimal(1_000_000)


def beyond_the_cent(amount: Decimal, written: Any) -> str | None:
    """« montant au-delà du centime « 29,999 » » when ``amount`` is finer than the cent, else None.

    A billed amount is a whole number of cents: ``29.9999999999`` is an export fault, not 30 €
    (rounded, it would hide the fault; kept, each engine would round it its own way). Zeros
    beyond the cent (``30.000``) are only a spelling. The one place of that rule, for a file's
    amount and for the embedding API's values (``readers.native``); ``written`` is the value as
    given, quoted in the message. A value that is no amount at all (not finite, or beyond what
    euro arithmetic rounds to the cent) gives None: its reader refuses it with its own message.
    """
    if not amount.is_finite() or amount.adjusted() >= 12:
        return None
    if amount == amount.quantize(CENT):
        return None
    return f"montant au-delà du centime {_quote(written)}"


def _amount(value: Any) -> Decimal:
    """Euros: ``26.50``, ``26,50``, ``1 234,50``, ``26,50 €`` or a JSON number; never negative.

    A whole number of cents (:func:`beyond_the_cent`).
    """
    amount = _decimal(value)
    fault = beyond_the_cent(amount, value)
    if fault is not None:
        raise InvalidValue(fault)
    return amount


def _decimal(value: Any) -> Decimal:
    """A non-negative decimal below :data:`AMOUNT_LIMIT`, read as an amount is (digits as written)."""
    if type(value) is str:
        text = _stripped(value)
        number = text
        if "," in number:
            number = number.replace(",", ".")
        if number.endswith("€"):
            number = number[:-1]
        number = number.translate(_THOUSANDS)
        digits = number[1:] if number[:1] in "+-" else number
        if not (digits.isascii() and digits.replace(".", "", 1).isdigit()):
            raise InvalidValue(f"montant invalide {_quote(value)}")
        amount = Decimal(number)
    elif type(value) is int:
        amount = Decimal(value)
    elif type(value) is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidValue(f"montant invalide {_quote(value)}")
        amount = Decimal(repr(value))  # repr: the shortest spelling, i.e. what the file said
    elif type(value) is ExactNumber:
        amount = Decimal(value)
    else:
        raise InvalidValue(f"montant invalide {_quote(value)}")
    if amount < 0:
        raise InvalidValue(f"montant négatif {_quote(value)}")
    if amount >= AMOUNT_LIMIT:
        raise InvalidValue(f"montant invraisemblable {_quote(value)} (1 000 000 € ou plus)")
    return amount if amount or not amount.is_signed() else abs(amount)  # "-0" is 0


#: No billed journey is that long: a larger value is a typing error, not kilometres.
KM_LIMIT = Decimal(10_000)


def _kilometres(value: Any) -> Decimal:
    """Kilometres billed as IK (SPEC §1 ``km``): read as an amount is (``12,5``), never negative."""
    if type(value) is str and "€" in value:
        raise InvalidValue(f"kilométrage invalide {_quote(value)}")
    try:
        distance = _decimal(value)  # to any precision: kilometres are no money
    except InvalidValue as exc:
        kind = "négatif" if "négatif" in exc.message else "invalide"
        raise InvalidValue(f"kilométrage {kind} {_quote(value)}") from None
    if distance >= KM_LIMIT:
        raise InvalidValue(f"kilométrage invraisemblable {_quote(value)} (10 000 km ou plus)")
    return distance


def _enum_parser(table: Mapping[str, Any], natives: Mapping[Any, Any] | None = None) -> Callable[[Any], Any]:
    """Parser of a closed list of values, in any case and spacing (``OPTAM``, `` self ``)."""
    message = "valeur inconnue {} (attendu : " + ", ".join(table) + ")"

    def parse(value: Any) -> Any:
        if type(value) is str:
            result = table.get(_stripped(value).lower())
            if result is None:
                raise InvalidValue(message.format(_quote(value)))
            return result
        if natives and type(value) is int and value in natives:
            return natives[value]
        raise InvalidValue(message.format(_quote(value)))

    return parse


_MT_STATUSES = {member.value: member for member in MtStatus}
_PLACES = {member.value: member for member in Place}
_STATUSES = {member.value: member for member in Status}
_SECTORS = {member.value: member for member in Sector}
_mt_status = _enum_parser(_MT_STATUSES)
_place = _enum_parser(_PLACES)
_status = _enum_parser(_STATUSES)
_sector = _enum_parser(_SECTORS, natives={1: Sector.ONE, 2: Sector.TWO})


# --- codes --------------------------------------------------------------------------------------


def _codes(value: Any) -> tuple[str, ...]:
    """``G+SNP`` (any case, spaces around ``+``) or, in JSON, ``["G", "SNP"]``.

    An element of a list is read as the text is: ``["G+MEG"]`` is G and MEG. The ledger stores an
    invoice's codes joined by ``+``, so a code kept whole with its ``+`` would be one unknown code
    in the file's check and two known ones once recorded: the invoice would change on the way.
    """
    if type(value) is str:
        codes = tuple(code for code in (part.strip() for part in value.upper().split("+")) if code)
    elif type(value) is list:
        if not all(type(code) is str for code in value):
            raise InvalidValue(f"liste de codes invalide {_quote(value)} (chaque code doit être un texte)")
        codes = tuple(
            code
            for element in value
            for code in (part.strip() for part in element.upper().split("+"))
            if code
        )
    else:
        raise InvalidValue(f"codes invalides {_quote(value)} (attendu : texte comme G+SNP)")
    if not codes:
        raise InvalidValue(f"aucun code dans {_quote(value)}")
    return codes


# --- the row ----------------------------------------------------------------------------------

# Memo of each column: spelling -> value. Exports repeat the same few spellings (``0``, ``self``,
# ``G+MEG``, ``30,00``, the act dates of one year) a million times; a dictionary lookup is much
# cheaper than parsing. Values are immutable, so sharing them is safe. Each memo is capped:
# columns such as birth dates have many distinct values, and the memo must stay small.
MEMO_MAX = 4096


def _memo(*tables: Mapping[str, Any]) -> dict[str, Any]:
    """A column's memo, prefilled with the exact spellings of a closed list (and upper case)."""
    memo: dict[str, Any] = {}
    for table in tables:
        memo.update(table)
        memo.update({key.upper(): value for key, value in table.items()})
    return memo


# Every SPEC §1 column, in SPEC order (the order of the input errors of a row): its parser, its
# memo (None for identifiers: always distinct, never worth remembering), whether it is required.
COLUMNS: tuple[tuple[str, Callable[[Any], Any], dict[str, Any] | None, bool], ...] = (
    ("invoice_id", read_text, None, True),
    ("date", _act_date, _memo(), True),
    ("time", _time, _memo(), False),
    ("practitioner_id", read_text, None, True),
    ("specialty", _specialty, _memo(), False),
    ("sector", _sector, _memo(_SECTORS), False),
    ("patient_id", read_private_text, None, True),
    ("birth_date", read_birth_date, _memo(), True),
    ("ald", read_bool, _memo(_BOOLEANS), False),
    ("palliative", read_bool, _memo(_BOOLEANS), False),
    ("neurodegenerative", read_bool, _memo(_BOOLEANS), False),
    ("mt_status", _mt_status, _memo(_MT_STATUSES), False),
    ("declares_mt", read_bool, _memo(_BOOLEANS), False),
    ("place", _place, _memo(_PLACES), False),
    ("homebound", read_bool, _memo(_BOOLEANS), False),
    ("codes", _codes, _memo(), True),
    ("amount", _amount, _memo(), False),
    ("regulated", read_bool, _memo(_BOOLEANS), False),
    ("referral_at", _datetime, None, False),
    ("status", _status, _memo(_STATUSES), False),
    ("discharge_date", _act_date, _memo(), False),
    ("km", _kilometres, _memo(), False),
)
UNSET = object()

#: Every column SPEC §1 defines; any other column of a row goes to ``Event.extra``.
#: Every SPEC §1 column, in the order of the SPEC table (also the order of ``ledger export``).
SPEC_COLUMNS: tuple[str, ...] = tuple(column[0] for column in COLUMNS)
KNOWN_COLUMNS: frozenset[str] = frozenset(SPEC_COLUMNS)

#: The time of the regulation's referral alone (``Heure de régulation``, SPEC §1b): not a SPEC §1
#: column but a part of ``referral_at``, combined with a date by
#: :func:`billing_rules.readers.rows.event_from_row` (see there); never an extra column.
REFERRAL_TIME = "referral_time"
#: The columns a row is read from: any other goes to ``Event.extra``.
READ_COLUMNS: frozenset[str] = KNOWN_COLUMNS | {REFERRAL_TIME}
#: Columns without which no row can be checked; a CSV header lacking one is unreadable.
REQUIRED_COLUMNS: tuple[str, ...] = tuple(column[0] for column in COLUMNS if column[3])


PARSERS = {name: (parse, memo) for name, parse, memo, _ in COLUMNS}

#: What :func:`value_of` returns for a value that is not simply readable.
UNREADABLE = object()


def value_of(column: str, value: str, default: Any) -> Any:
    """The typed value of one CSV cell of ``column``, ``default`` for an empty one, else UNREADABLE.

    For the fast path (:mod:`billing_rules.readers.positional`), which must never decide that a
    value is wrong: an unreadable value sends the row to :func:`event_from_row`, which words the
    error. Goes through the same parsers and memos as :func:`_read_fields`, so a value reads the
    same on both paths.
    """
    parse, memo = PARSERS[column]
    if memo is not None:
        parsed = memo.get(value, UNSET)
        if parsed is not UNSET:
            return parsed
    if value == "":
        return default
    try:
        parsed = parse(value)
    except BlankValue:
        return default
    except InvalidValue:
        return UNREADABLE
    if memo is not None and len(memo) < MEMO_MAX:
        memo[value] = parsed
    return parsed


def read_value(column: str, value: Any) -> tuple[Any, str | None]:
    """One value of ``column`` read on its own: (the value, None), or (None, the French error).

    An empty or blank value is (None, None): the caller knows the column's default. For the
    per-act lines of SPEC §1b, which read each line's code and amount before the invoice exists.
    """
    parse = PARSERS[column][0]
    if value is None or value == "":
        return None, None
    try:
        return parse(value), None
    except BlankValue:
        return None, None
    except InvalidValue as exc:
        return None, exc.message
