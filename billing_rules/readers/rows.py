"""Raw row to :class:`~billing_rules.model.Event`: the one place where SPEC §1 values are read.

Every format reader hands its rows here, so CSV strings and JSON natives follow the same rules and
give the same French input errors. This runs once per invoice on inputs of a million rows, hence
the shape of the code: one table of per-column parsers, dictionary lookups instead of regular
expressions, a fast path for the spellings exports actually use (``2024-03-04``, ``0``/``1``,
lower-case enums) before the lenient slow path, and exceptions only for bad values.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from billing_rules.model import Event, InputError, MtStatus, Place, Sector, Status
from billing_rules.readers.base import RawRow

# Same as Event.act_time without a time: the end of the act's day (SPEC §5, SNP-48H).
_END_OF_DAY = dt.time(23, 59, 59)

_MISSING = "valeur obligatoire manquante"
_QUOTE_MAX = 60


class _Blank(Exception):
    """The value is only spaces: treated like an empty cell (the column's default)."""


class _Invalid(Exception):
    """The value cannot be read; ``message`` is the French text of the input error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _quote(value: Any) -> str:
    """``« value »`` for a message: one line, shortened, JSON spelling for non-strings."""
    if isinstance(value, str):
        text = value.strip()[: _QUOTE_MAX * 4]
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
        raise _Blank
    return text


# --- text -------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """Identifiers: a string, or a JSON integer (ids are often numeric in JSON exports)."""
    if type(value) is str:
        return _stripped(value)
    if type(value) is int:
        return str(value)
    raise _Invalid(f"texte attendu, reçu {_quote(value)}")


def _private_text(value: Any) -> str:
    """Like :func:`_text`, for patient identifiers, whose value never appears in a message."""
    if type(value) is str:
        return _stripped(value)
    if type(value) is int:
        return str(value)
    raise _Invalid("texte attendu (la valeur n'est pas du texte)")


def _specialty(value: Any) -> str:
    return _text(value).upper()


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


def _date(value: Any) -> dt.date:
    if type(value) is str:
        if len(value) == 10 and value[4] == "-" and value[7] == "-":  # fast path: ISO, no spaces
            try:
                return _fromisoformat(value)
            except ValueError:
                raise _Invalid(f"date invalide {_quote(value)}") from None
        parsed = _parse_date(_stripped(value))
        if parsed is not None:
            return parsed
    raise _Invalid(f"date invalide {_quote(value)}")


#: Range of act dates. An act outside it is an export fault (``0001-01-01`` and ``9999-12-31``
#: are the usual "unknown" and "no end" placeholders), and window arithmetic near the limits of
#: ``datetime`` (12 months before 1 January of year 1) would fail in the rules instead.
ACT_DATE_MIN = dt.date(1900, 1, 1)
ACT_DATE_MAX = dt.date(2199, 12, 31)


def _act_date(value: Any) -> dt.date:
    day = _date(value)
    if not ACT_DATE_MIN <= day <= ACT_DATE_MAX:
        years = f"{ACT_DATE_MIN.year} et {ACT_DATE_MAX.year}"
        raise _Invalid(f"date hors limites {_quote(value)} (un acte est daté entre {years})")
    return day


def _birth_date(value: Any) -> dt.date:
    """Like :func:`_date`, for birth dates, whose value never appears in a message (patient data)."""
    try:
        return _date(value)
    except _Invalid:
        raise _Invalid(
            "date de naissance invalide (valeur non reproduite ; attendu : AAAA-MM-JJ ou JJ/MM/AAAA)"
        ) from None


def _time(value: Any) -> dt.time:
    if type(value) is str:
        parsed = _parse_time(_stripped(value))
        if parsed is not None:
            return parsed
    raise _Invalid(f"heure invalide {_quote(value)}")


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
    raise _Invalid(f"date-heure invalide {_quote(value)} (attendu : 2024-03-04T09:30 ou 04/03/2024 09:30)")


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


def _bool(value: Any) -> bool:
    if type(value) is str:
        result = _BOOLEANS.get(_stripped(value).lower())
        if result is None:
            raise _Invalid(_BOOL_MESSAGE.format(_quote(value)))
        return result
    if type(value) is bool:
        return value
    if type(value) in (int, float) and value in (0, 1):
        return bool(value)
    raise _Invalid(_BOOL_MESSAGE.format(_quote(value)))


_THOUSANDS = str.maketrans("", "", " \u00a0\u202f")

#: Smallest amount refused as absurd. No general-practice invoice comes near it, and much larger
#: values (``1e308``, a field of a million digits) exceed what euro arithmetic at 28 significant
#: digits can round to the cent: such a value is an export fault, reported on its row.
AMOUNT_LIMIT = Decimal(1_000_000)


def _amount(value: Any) -> Decimal:
    """Euros: ``26.50``, ``26,50``, ``1 234,50``, ``26,50 €`` or a JSON number; never negative."""
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
            raise _Invalid(f"montant invalide {_quote(value)}")
        amount = Decimal(number)
    elif type(value) is int:
        amount = Decimal(value)
    elif type(value) is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise _Invalid(f"montant invalide {_quote(value)}")
        amount = Decimal(repr(value))  # repr: the shortest spelling, i.e. what the file said
    else:
        raise _Invalid(f"montant invalide {_quote(value)}")
    if amount < 0:
        raise _Invalid(f"montant négatif {_quote(value)}")
    if amount >= AMOUNT_LIMIT:
        raise _Invalid(f"montant invraisemblable {_quote(value)} (1 000 000 € ou plus)")
    return amount if amount or not amount.is_signed() else abs(amount)  # "-0" is 0


#: No billed journey is that long: a larger value is a typing error, not kilometres.
KM_LIMIT = Decimal(10_000)


def _kilometres(value: Any) -> Decimal:
    """Kilometres billed as IK (SPEC §1 ``km``): read as an amount is (``12,5``), never negative."""
    if type(value) is str and "€" in value:
        raise _Invalid(f"kilométrage invalide {_quote(value)}")
    try:
        distance = _amount(value)
    except _Invalid as exc:
        kind = "négatif" if "négatif" in exc.message else "invalide"
        raise _Invalid(f"kilométrage {kind} {_quote(value)}") from None
    if distance >= KM_LIMIT:
        raise _Invalid(f"kilométrage invraisemblable {_quote(value)} (10 000 km ou plus)")
    return distance


def _enum_parser(table: Mapping[str, Any], natives: Mapping[Any, Any] | None = None) -> Callable[[Any], Any]:
    """Parser of a closed list of values, in any case and spacing (``OPTAM``, `` self ``)."""
    message = "valeur inconnue {} (attendu : " + ", ".join(table) + ")"

    def parse(value: Any) -> Any:
        if type(value) is str:
            result = table.get(_stripped(value).lower())
            if result is None:
                raise _Invalid(message.format(_quote(value)))
            return result
        if natives and type(value) is int and value in natives:
            return natives[value]
        raise _Invalid(message.format(_quote(value)))

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
    """``G+SNP`` (any case, spaces around ``+``) or, in JSON, ``["G", "SNP"]``."""
    if type(value) is str:
        codes = tuple(code for code in (part.strip() for part in value.upper().split("+")) if code)
    elif type(value) is list:
        if not all(type(code) is str for code in value):
            raise _Invalid(f"liste de codes invalide {_quote(value)} (chaque code doit être un texte)")
        codes = tuple(code for code in (part.strip().upper() for part in value) if code)
    else:
        raise _Invalid(f"codes invalides {_quote(value)} (attendu : texte comme G+SNP)")
    if not codes:
        raise _Invalid(f"aucun code dans {_quote(value)}")
    return codes


# --- the row ----------------------------------------------------------------------------------

# Memo of each column: spelling -> value. Exports repeat the same few spellings (``0``, ``self``,
# ``G+MEG``, ``30,00``, the act dates of one year) a million times; a dictionary lookup is much
# cheaper than parsing. Values are immutable, so sharing them is safe. Each memo is capped:
# columns such as birth dates have many distinct values, and the memo must stay small.
_MEMO_MAX = 4096


def _memo(*tables: Mapping[str, Any]) -> dict[str, Any]:
    """A column's memo, prefilled with the exact spellings of a closed list (and upper case)."""
    memo: dict[str, Any] = {}
    for table in tables:
        memo.update(table)
        memo.update({key.upper(): value for key, value in table.items()})
    return memo


# Every SPEC §1 column, in SPEC order (the order of the input errors of a row): its parser, its
# memo (None for identifiers: always distinct, never worth remembering), whether it is required.
_COLUMNS: tuple[tuple[str, Callable[[Any], Any], dict[str, Any] | None, bool], ...] = (
    ("invoice_id", _text, None, True),
    ("date", _act_date, _memo(), True),
    ("time", _time, _memo(), False),
    ("practitioner_id", _text, None, True),
    ("specialty", _specialty, _memo(), False),
    ("sector", _sector, _memo(_SECTORS), False),
    ("patient_id", _private_text, None, True),
    ("birth_date", _birth_date, _memo(), True),
    ("ald", _bool, _memo(_BOOLEANS), False),
    ("palliative", _bool, _memo(_BOOLEANS), False),
    ("neurodegenerative", _bool, _memo(_BOOLEANS), False),
    ("mt_status", _mt_status, _memo(_MT_STATUSES), False),
    ("declares_mt", _bool, _memo(_BOOLEANS), False),
    ("place", _place, _memo(_PLACES), False),
    ("homebound", _bool, _memo(_BOOLEANS), False),
    ("codes", _codes, _memo(), True),
    ("amount", _amount, _memo(), False),
    ("regulated", _bool, _memo(_BOOLEANS), False),
    ("referral_at", _datetime, None, False),
    ("status", _status, _memo(_STATUSES), False),
    ("discharge_date", _act_date, _memo(), False),
    ("km", _kilometres, _memo(), False),
)
_UNSET = object()

#: Every column SPEC §1 defines; any other column of a row goes to ``Event.extra``.
#: Every SPEC §1 column, in the order of the SPEC table (also the order of ``ledger export``).
SPEC_COLUMNS: tuple[str, ...] = tuple(column[0] for column in _COLUMNS)
KNOWN_COLUMNS: frozenset[str] = frozenset(SPEC_COLUMNS)
#: Columns without which no row can be checked; a CSV header lacking one is unreadable.
REQUIRED_COLUMNS: tuple[str, ...] = tuple(column[0] for column in _COLUMNS if column[3])


_PARSERS = {name: (parse, memo) for name, parse, memo, _ in _COLUMNS}

#: What :func:`value_of` returns for a value that is not simply readable.
UNREADABLE = object()


def value_of(column: str, value: str, default: Any) -> Any:
    """The typed value of one CSV cell of ``column``, ``default`` for an empty one, else UNREADABLE.

    For the fast path (:mod:`billing_rules.readers.positional`), which must never decide that a
    value is wrong: an unreadable value sends the row to :func:`event_from_row`, which words the
    error. Goes through the same parsers and memos as :func:`_read_fields`, so a value reads the
    same on both paths.
    """
    parse, memo = _PARSERS[column]
    if memo is not None:
        parsed = memo.get(value, _UNSET)
        if parsed is not _UNSET:
            return parsed
    if value == "":
        return default
    try:
        parsed = parse(value)
    except _Blank:
        return default
    except _Invalid:
        return UNREADABLE
    if memo is not None and len(memo) < _MEMO_MAX:
        memo[value] = parsed
    return parsed


def row_identity(raw: RawRow) -> tuple[str, str] | None:
    """The (``practitioner_id``, ``invoice_id``) a row claims, even if the row is in error.

    SPEC §1 flags a duplicate "readable or not", so this is read from the raw values; a value the
    format reader found damaged (undecodable bytes) identifies nothing.
    """
    values = _undamaged(raw)
    practitioner_id = readable_text(values, "practitioner_id")
    invoice_id = readable_text(values, "invoice_id")
    if practitioner_id and invoice_id:
        return (practitioner_id, invoice_id)
    return None


def _undamaged(raw: RawRow) -> Mapping[str, Any]:
    """The row's values without those the format reader reported as damaged."""
    if not raw.problems:
        return raw.values
    damaged = {field for field, _ in raw.problems}
    return {key: value for key, value in raw.values.items() if key not in damaged}


def readable_text(values: Mapping[str, Any], column: str) -> str | None:
    """The value of an identifier column if it can be read, else None (no error raised).

    Used to flag duplicates even among rows that have other errors, and to label input errors
    with their invoice.
    """
    value = values.get(column)
    if value is None:
        return None
    try:
        return _text(value)
    except (_Blank, _Invalid):
        return None


def _errors(raw: RawRow, found: list[tuple[str, str]], invoice_id: str | None) -> list[InputError]:
    return [
        InputError(line=raw.line, field=field, message=message, file=raw.file, invoice_id=invoice_id)
        for field, message in found
    ]


def _read_fields(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Parse every SPEC §1 column of a row: (the values read, the (field, message) errors).

    The hot loop of the readers: a memo lookup for most values, a parser call for the others.
    """
    fields: dict[str, Any] = {}
    found: list[tuple[str, str]] = []
    get = values.get
    for name, parse, memo, required in _COLUMNS:
        value = get(name)
        if value is None or value == "":
            if required:
                found.append((name, _MISSING))
            continue
        if memo is not None:
            try:
                parsed = memo.get(value, _UNSET)
            except TypeError:  # a JSON list or object: never memoized
                parsed = _UNSET
            if parsed is not _UNSET:
                fields[name] = parsed
                continue
        try:
            parsed = parse(value)
        except _Blank:
            if required:
                found.append((name, _MISSING))
            continue
        except _Invalid as exc:
            found.append((name, exc.message))
            continue
        fields[name] = parsed
        if memo is not None and type(value) is str and len(memo) < _MEMO_MAX:
            memo[value] = parsed
    return fields, found


def event_from_row(raw: RawRow, seq: int) -> Event | list[InputError]:
    """Read one row into an :class:`Event`, or say everything that is wrong with it.

    Empty or missing optional values take their SPEC §1 default; columns SPEC §1 does not define
    are kept as they are in ``Event.extra``. A row is either fully readable or not at all (SPEC §1:
    a row with any bad value is not checked), so the result is the event or one input error per
    bad field, never both.

    Args:
        raw: the row as a format reader produced it; its ``problems`` are reported as they are.
        seq: the row's rank in the whole input (``Event.seq``), which orders same-time invoices.

    Returns:
        The event, or a non-empty list of input errors located by line, field and file.
    """
    values = raw.values
    problems = raw.problems
    if problems:
        # Values with undecodable bytes are reported as such, not parsed (nor quoted as the
        # invoice's number): read the row without them, then replace whatever their absence
        # caused ("missing") by the real problem.
        values = _undamaged(raw)
        if raw.broken:
            return _errors(raw, list(problems), readable_text(values, "invoice_id"))
        damaged = {field for field, _ in problems}
        fields, found = _read_fields(values)
        found = [(field, message) for field, message in found if field not in damaged]
        found.extend(problems)
    else:
        fields, found = _read_fields(values)
    day = fields.get("date")
    if day is not None:
        birth = fields.get("birth_date")
        if birth is not None and birth > day:
            found.append(("birth_date", birth_after_act(day)))
        referral = fields.get("referral_at")
        if referral is not None and "time" not in _fields_of(found):
            moment = fields.get("time")
            act = dt.datetime.combine(day, moment or _END_OF_DAY)
            if referral > act:
                found.append(("referral_at", referral_after_act(referral, day, moment)))
    if found:
        return _errors(raw, found, fields.get("invoice_id") or readable_text(values, "invoice_id"))
    if not values.keys() <= KNOWN_COLUMNS:
        fields["extra"] = {key: value for key, value in values.items() if key not in KNOWN_COLUMNS}
    return Event(**fields, line=raw.line, file=raw.file, seq=seq)


def birth_after_act(day: dt.date) -> str:
    """The message of a birth date after the act (also worded by the columnar reader)."""
    return f"date de naissance postérieure à la date de l'acte ({day:%d/%m/%Y})"


def referral_after_act(referral: dt.datetime, day: dt.date, moment: dt.time | None) -> str:
    """The message of a regulation after the act (also worded by the columnar reader)."""
    when = f"{day:%d/%m/%Y} {moment:%H:%M}" if moment else f"{day:%d/%m/%Y}, fin de journée"
    return f"régulation ({referral:%d/%m/%Y %H:%M}) postérieure à l'acte ({when})"


def _fields_of(found: list[tuple[str, str]]) -> set[str]:
    return {field for field, _ in found}


def read_value(column: str, value: Any) -> tuple[Any, str | None]:
    """One value of ``column`` read on its own: (the value, None), or (None, the French error).

    An empty or blank value is (None, None): the caller knows the column's default. For the
    per-act lines of SPEC §1b, which read each line's code and amount before the invoice exists.
    """
    parse = _PARSERS[column][0]
    if value is None or value == "":
        return None, None
    try:
        return parse(value), None
    except _Blank:
        return None, None
    except _Invalid as exc:
        return None, exc.message
