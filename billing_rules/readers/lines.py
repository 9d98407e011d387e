"""Exports with one line per act, grouped into invoices (SPEC §1b).

Some practice software writes an invoice as several lines, one code each, repeating the invoice's
number, date and patient on every line. Rules reason about invoices, so the lines are grouped by
(``practitioner_id``, ``invoice_id``) before anything is checked, wherever they stand in the file:

* the invoice's codes are its lines' codes, in line order (``G`` then ``MD`` gives ``G+MD``);
* its amount is the exact sum of its lines' amounts (decimal, to the cent). ``amount`` is optional
  (SPEC §1): an empty amount is an unknown one, on a line as on an invoice of one line. So a line
  without an amount leaves the invoice's total unknown: the invoice is checked without an amount
  (the AMOUNT-* rules skip it), as an invoice whose amount column is empty would be. A partial
  sum is never taken for the total, and the other lines' acts are still checked;
* every other SPEC §1 field must agree between the lines, compared as read: a line that says
  otherwise is an input error naming both lines, one per field, and the invoice is not checked.
  An empty cell (or absent key) of a field with a SPEC §1 default means that default, as it would
  on a line of its own: ``ald`` empty on one line and ``oui`` on another disagree, empty and
  ``non`` agree. An empty cell of a field without a default (the patient, the time...) agrees
  with anything (exports often fill the patient's details on the first line only); the invoice
  takes the first value given. Extra columns (act labels, unit prices...) are not compared: the
  invoice keeps the first line's;
* the invoice's ``line`` is its first line, and it is checked in the rank of its first line;
* an invoice in error is still read as the row it makes, so that every bad field is reported
  (SPEC §1: one input error per bad field), each on the line its value comes from: a bad date on
  the first line is not hidden by a bad amount on the second. The errors come line by line, and
  within a line in a per-invoice row's order (bad values in SPEC order, then damaged bytes, then
  a birth or a regulation after the act).

Memory: a later line may belong to any invoice. One compact record per invoice is kept: the
first line's values as a list (the column names are shared by all invoices, and repeated values
such as dates, flags and patient numbers are stored once), the codes and the running total, about
1 KB. Read once, a file is held whole (a year of a large practice, 50 000 invoices, near 50 MB).
A large file that can be read again is read twice (:func:`last_rows`): each invoice then goes as
soon as it is complete, and only the invoices still open are held. Per-invoice files never come
here and keep streaming.

The columnar reader groups a CSV file's plain invoices itself (lines written alike but for the
code and the amount: :mod:`billing_rules.readers.columnar.per_act`) and hands this module the
others, with all their lines: what needs judgement is judged here only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

import attrs

from billing_rules.errors import ReadError
from billing_rules.model import Event, InputError
from billing_rules.readers.base import ROW_FIELD, RawRow, file_label
from billing_rules.readers.columns import CODE, FIELDS, MAPPABLE
from billing_rules.readers.rows import (
    KNOWN_COLUMNS,
    UNREADABLE,
    event_from_row,
    read_value,
    row_identity,
    value_of,
)
from billing_rules.readers.values import REFERRAL_TIME

_MISSING = "valeur obligatoire manquante"
#: Fields whose lines are not compared: they are what differs from one act to the next.
_PER_ACT = frozenset({CODE, "codes", "amount"})
#: The fields every line of an invoice must agree on (the columnar grouping compares them too).
COMPARED = tuple(field for field in MAPPABLE if field not in _PER_ACT)
#: The order of a line's errors: SPEC order, a referral's time just after ``referral_at`` (as
#: :func:`~billing_rules.readers.rows.event_from_row` orders a row's).
_RANKS = {
    field: rank
    for rank, field in enumerate(
        part for field in FIELDS for part in ((field, REFERRAL_TIME) if field == "referral_at" else (field,))
    )
}
#: The SPEC §1 default of each compared field that has one (``ald`` false, ``mt_status`` unknown,
#: ``place`` cabinet...): what an empty cell of that field reads as.
_DEFAULTS: dict[str, Any] = {
    field.name: field.default
    for field in attrs.fields(Event)
    if field.name in COMPARED and field.default is not attrs.NOTHING and field.default is not None
}
#: Kinds of input errors, in a line's order (as :func:`~billing_rules.readers.rows.event_from_row`
#: orders a row's): a bad value, then a value the format reader found damaged (or a broken line),
#: then a value that reads but contradicts another (a birth or a regulation after the act).
_VALUE, _DAMAGED, _CROSS = 0, 1, 2
#: An error being gathered: (line, field, message, kind).
_Error = tuple[int | None, str, str, int]
#: Distinct values stored once (dates, flags, patient numbers...); beyond, values are kept as read.
#: The table only points at strings the invoices hold anyway, and is dropped once grouped.
_SHARED_MAX = 500_000


@attrs.define
class _Invoice:
    """The invoice being assembled from its lines (slots: there is one per invoice of the file)."""

    key: tuple[str, str]
    keys: tuple[str, ...]
    values: list[Any]
    line: int | None
    file: str | None
    codes: list[str] = attrs.field(factory=list)
    total: Decimal | None = None
    #: A line had no amount: the invoice's total is unknown (SPEC §1: ``amount`` is optional).
    without_amount: bool = False
    errors: list[_Error] | None = None
    #: Its last row was read (:class:`LastRows`): it may come out.
    complete: bool = False
    #: field -> line that gave a value the first line left empty (or every value, the first
    #: line being broken).
    filled: dict[str, int | None] | None = None
    disagreeing: set[str] | None = None

    def error(self, line: int | None, field: str, message: str, kind: int = _VALUE) -> None:
        if self.errors is None:
            self.errors = []
        self.errors.append((line, field, message, kind))

    def damaged(self, line: int | None, problems: tuple[tuple[str, str], ...]) -> None:
        """A line's problems found by the format reader (undecodable bytes, a broken line)."""
        for field, message in problems:
            self.error(line, field, message, _DAMAGED)


@attrs.frozen
class Grouped:
    """One invoice made of lines: the row to read, or the errors that keep it from being read.

    Attributes:
        raw: the invoice as one row (line = its first line), or its first line when in error.
        key: (``practitioner_id``, ``invoice_id``), which the invoice claims even in error.
        errors: input errors located on the lines they are about; when any, ``raw`` is not read.
    """

    raw: RawRow
    key: tuple[str, str]
    errors: tuple[InputError, ...] = ()


@attrs.frozen
class LastRows:
    """A first pass over a per-act file: the rank of each invoice's last row, and the rows read.

    Keyed by the hash of the invoice's key (:func:`_key_hash`, about 100 bytes an invoice): two
    invoices of one hash share the later one's last row, which only keeps the earlier one a little
    longer.
    """

    ranks: dict[int, int]
    rows: int


def last_rows(rows: Iterable[RawRow]) -> LastRows:
    """Read the rows once, for :func:`group_lines` to yield each invoice as soon as it is complete."""
    ranks: dict[int, int] = {}
    count = 0
    for count, raw in enumerate(rows, start=1):
        key = row_identity(raw)
        if key is not None:
            ranks[_key_hash(key)] = count - 1
    return LastRows(ranks, count)


def _key_hash(key: tuple[str, str]) -> int:
    return hash(key)


def group_lines(rows: Iterable[RawRow], last: LastRows | None = None) -> Iterator[Grouped | RawRow]:
    """The invoices of a per-act file, in the order of their first lines.

    A row that identifies no invoice (no readable ``practitioner_id`` or ``invoice_id``) comes
    out alone and as it is, in its place, for the general reading to report. A line that cannot
    be read as a whole (too many fields...) but names its invoice spoils that invoice: its error
    is reported on its line and the invoice is not checked without it.

    ``last``: a first pass over the same rows (:func:`last_rows`). Each invoice then comes out as
    soon as its last row is read and every invoice begun before it has come out: when an
    invoice's lines are close together, as exports write them, only a few are held at a time.
    Without it, the whole file is held, as any later line may belong to any invoice.

    Raises:
        ReadError: with ``last``, the rows are not those of the first pass (the file changed).
    """
    entries: deque[_Invoice | RawRow] = deque()
    invoices: dict[tuple[str, str], _Invoice] = {}
    shared: dict[Any, Any] = {}
    layouts: dict[tuple[str, ...], tuple[str, ...]] = {}
    ranks = last.ranks if last is not None else None
    count = 0
    file = None
    for rank, raw in enumerate(rows):
        count, file = rank + 1, raw.file
        key = row_identity(raw)  # also of a broken line: it spoils its invoice (SPEC §1)
        if key is None:
            entries.append(raw)
        else:
            invoice = _take(key, raw, invoices, entries, shared, layouts)
            if ranks is not None:
                final = ranks.get(_key_hash(key))
                if final is None or final < rank:
                    raise _changed(file)
                if final == rank:  # its last row: complete
                    invoice.complete = True
                    del invoices[key]
        if ranks is not None:
            while entries and (isinstance(entries[0], RawRow) or entries[0].complete):
                entry = entries.popleft()
                yield entry if isinstance(entry, RawRow) else _finish(entry)
    if last is not None and count != last.rows:
        raise _changed(file)
    invoices.clear()
    shared.clear()
    while entries:  # let each invoice go once read
        entry = entries.popleft()
        yield entry if isinstance(entry, RawRow) else _finish(entry)


def _take(
    key: tuple[str, str],
    raw: RawRow,
    invoices: dict[tuple[str, str], _Invoice],
    entries: deque[_Invoice | RawRow],
    shared: dict[Any, Any],
    layouts: dict[tuple[str, ...], tuple[str, ...]],
) -> _Invoice:
    """One row of invoice ``key``: the invoice begun, or the row compared and added to it."""
    invoice = invoices.get(key)
    if raw.broken:
        if invoice is None:  # the invoice's fields will come from its readable lines
            invoice = invoices[key] = _Invoice(key=key, keys=(), values=[], line=raw.line, file=raw.file)
            entries.append(invoice)
        invoice.damaged(raw.line, raw.problems)
        return invoice
    if invoice is None:
        invoice = invoices[key] = _start(key, raw, shared, layouts)
        entries.append(invoice)
    elif not invoice.keys:  # its first readable line, after broken ones: it gives the values
        readable = _start(key, raw, shared, layouts)
        invoice.keys, invoice.values = readable.keys, readable.values
        invoice.filled = dict.fromkeys(readable.keys, raw.line)
        invoice.damaged(raw.line, raw.problems)
    else:
        _compare(invoice, raw)
    _add_act(invoice, raw)
    return invoice


def _changed(file: str | None) -> ReadError:
    where = file_label(file) if file is not None else "fichier"
    return ReadError(f"{where} : le fichier a changé pendant sa lecture ; relancez le contrôle")


def _start(
    key: tuple[str, str], raw: RawRow, shared: dict[Any, Any], layouts: dict[tuple[str, ...], tuple[str, ...]]
) -> _Invoice:
    """A new invoice from its first line; its values share the file's repeated spellings."""
    keys = tuple(raw.values)
    keys = layouts.setdefault(keys, keys)
    values = list(raw.values.values())
    if len(shared) < _SHARED_MAX:
        # Text only: JSON's true, 1 and 1.0 are equal keys of a dict, but not the same value.
        share = shared.setdefault
        values = [share(value, value) if type(value) is str else value for value in values]
    invoice = _Invoice(key=key, keys=keys, values=values, line=raw.line, file=raw.file)
    invoice.damaged(raw.line, raw.problems)
    return invoice


def _compare(invoice: _Invoice, raw: RawRow) -> None:
    """A later line of ``invoice``: every SPEC field must say what the invoice says (or nothing)."""
    line = raw.line
    invoice.damaged(line, raw.problems)
    damaged = {field for field, _ in raw.problems} if raw.problems else ()
    get = raw.values.get
    keys = invoice.keys
    for field in COMPARED:
        if field in damaged:
            continue
        value = get(field)
        defaulted = field in _DEFAULTS
        if value is None and not defaulted:
            continue
        try:
            position = keys.index(field)
        except ValueError:  # a JSON line with a key the first line lacked
            if value is None:  # absent from both: the default on both
                continue
            invoice.keys = keys = (*keys, field)
            invoice.values.append(None)
            position = len(keys) - 1
        held = invoice.values[position]
        if value == held:
            continue
        if defaulted:
            # An empty cell is the field's default, as on a line of its own (SPEC §1).
            if _read_or_default(field, value) == _read_or_default(field, held):
                continue
        else:
            if _empty(value):
                continue
            if _empty(held):
                invoice.values[position] = value
                if invoice.filled is None:
                    invoice.filled = {}
                invoice.filled[field] = line
                continue
            if _canonical(field, value) == _canonical(field, held):
                continue
        if invoice.disagreeing is None:
            invoice.disagreeing = set()
        if field not in invoice.disagreeing:
            invoice.disagreeing.add(field)
            source = invoice.filled.get(field, invoice.line) if invoice.filled else invoice.line
            invoice.error(line, field, _disagreement(field, source))


def _add_act(invoice: _Invoice, raw: RawRow) -> None:
    """The line's own part: its codes and its amount."""
    line = raw.line
    values = raw.values
    damaged = {field for field, _ in raw.problems} if raw.problems else ()
    # The line's codes: ``code`` in a per-act file, ``codes`` under --lines.
    column = CODE if CODE in values else "codes"
    if column not in damaged:
        text = codes_text(values.get(column))
        if text is None:
            invoice.error(line, column, _MISSING)
        else:
            _, problem = _read("codes", text)
            if problem is not None:
                invoice.error(line, column, problem)
            else:
                invoice.codes.append(text)
    if "amount" not in damaged:
        amount, problem = _read("amount", values.get("amount"))
        if problem is not None:
            invoice.error(line, "amount", problem)
        elif amount is None:
            invoice.without_amount = True
        else:
            invoice.total = amount if invoice.total is None else invoice.total + amount


def _read(column: str, value: Any) -> tuple[Any, str | None]:
    """A value through the column's memo when it is text (exports repeat them), else parsed."""
    if type(value) is str:
        parsed = value_of(column, value, None)
        if parsed is not UNREADABLE:
            return parsed, None
    return read_value(column, value)


def _empty(value: Any) -> bool:
    return value is None or (type(value) is str and not value.strip())


def codes_text(value: Any) -> str | None:
    """A line's codes as ``G+MD`` text (JSON: a text or a list of texts), None when empty."""
    if type(value) is list and all(type(item) is str for item in value):
        value = "+".join(item.strip() for item in value if item.strip())
    if type(value) is str:
        text = value.strip()
        return text or None
    if value is None:
        return None
    return str(value)  # not text: read_value words the error


def _canonical(field: str, value: Any) -> Any:
    """What is compared between lines: the value as read (``04/03/2024`` = ``2024-03-04``).

    A value that does not read is compared as written; the invoice's own reading reports it.
    """
    column = "time" if field == REFERRAL_TIME else field  # a referral's time reads as a time
    if column in KNOWN_COLUMNS:
        try:
            parsed, problem = _read(column, value)
        except TypeError:  # a JSON list or object where text was expected
            problem = "?"
        if problem is None:
            return parsed
    return value.strip() if type(value) is str else repr(value)


def _read_or_default(field: str, value: Any) -> Any:
    """A field's value as read, its SPEC §1 default when empty (see :func:`_canonical`)."""
    return _DEFAULTS[field] if _empty(value) else _canonical(field, value)


def _disagreement(field: str, earlier: int | None) -> str:
    where = f"de la ligne {earlier}" if earlier is not None else "d'une ligne précédente"
    return (
        f"{field} différent de celui {where} pour la même facture : les lignes d'une facture "
        "ne diffèrent que par le code et le montant"
    )


def _finish(invoice: _Invoice) -> Grouped:
    values = dict(zip(invoice.keys, invoice.values, strict=True))
    invoice_id = invoice.key[1]
    errors = list(invoice.errors or ())
    if invoice.keys and (errors or invoice.filled):
        # The lines' own errors say nothing of the invoice's other fields: read them too. A value
        # taken from a later line is read here as well, to be reported on that line.
        errors += _field_errors(invoice, values, errors)
    if errors:
        errors.sort(key=_error_order)
        found = tuple(
            InputError(line=line, field=field, message=message, file=invoice.file, invoice_id=invoice_id)
            for line, field, message, _ in errors
        )
        return Grouped(RawRow(invoice.line, values, invoice.file), invoice.key, found)
    values.pop(CODE, None)
    values["codes"] = "+".join(invoice.codes)
    if invoice.total is not None and not invoice.without_amount:
        values["amount"] = format(invoice.total, "f")
    else:  # no line gave an amount, or one did not: the total is unknown
        values.pop("amount", None)
    return Grouped(RawRow(invoice.line, values, invoice.file), invoice.key)


#: The fields checked against the act's date and time (SPEC §1: neither may come after the act).
_AGAINST_THE_ACT = frozenset({"birth_date", "referral_at"})


def _field_errors(invoice: _Invoice, values: dict[str, Any], known: list[_Error]) -> list[_Error]:
    """The errors of the invoice's fields but its codes and amount, as its row reads them.

    The row is read as a per-invoice row is (:func:`~billing_rules.readers.rows.event_from_row`:
    the same messages, required values, birth and regulation checks), without the per-act
    columns (their errors are the lines' own, see :func:`_add_act`) and without a value already
    in error on the line it comes from (bytes the format reader found damaged): no field is
    reported twice on one line. Each error goes to the line its field's value comes from. With
    a broken line (its values unknown), no value is said to be missing: it may be on that line.
    """
    filled = invoice.filled or {}
    first = invoice.line
    taken = {(line, field) for line, field, _, _ in known}
    broken = any(field == ROW_FIELD for _, field, _, _ in known)
    row = {
        field: value
        for field, value in values.items()
        if field not in _PER_ACT and (filled.get(field, first), field) not in taken
    }
    found = _read_row(row, invoice)
    if not found:
        return []
    cross: set[tuple[str, str]] = set()
    if "date" in row and any(field in _AGAINST_THE_ACT for field, _ in found):
        # Read again without the act's date, the errors that vanish are those set against it (a
        # birth or a regulation after the act): a per-invoice row gives them last.
        alone = set(_read_row({field: value for field, value in row.items() if field != "date"}, invoice))
        cross = {error for error in found if error[0] != "date" and error not in alone}
    errors: list[_Error] = []
    for field, message in found:
        line = filled.get(field, first)
        if field in _PER_ACT or (line, field) in taken or (broken and message == _MISSING):
            continue
        taken.add((line, field))
        errors.append((line, field, message, _CROSS if (field, message) in cross else _VALUE))
    return errors


def _read_row(row: dict[str, Any], invoice: _Invoice) -> list[tuple[str, str]]:
    """``row``'s errors as (field, message), in a per-invoice row's order; none when it reads."""
    result = event_from_row(RawRow(invoice.line, row, invoice.file), 0)
    if isinstance(result, Event):
        return []
    return [(error.field, error.message) for error in result]


def _error_order(error: _Error) -> tuple[int, int, int]:
    """By line, then as a per-invoice row orders its errors (see :data:`_VALUE`).

    Bad values in SPEC order of their fields; damaged values and the checks against the act keep
    the order they were found in (the sort is stable), as :func:`event_from_row` gives them.
    """
    line, field, _, kind = error
    if kind != _VALUE:
        return (line or 0, kind, 0)
    field = "codes" if field == CODE else field  # a line's code stands where the invoice's codes do
    return (line or 0, kind, _RANKS.get(field, len(_RANKS)))
