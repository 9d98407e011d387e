"""Exports with one line per act, grouped into invoices (SPEC §1b).

Some practice software writes an invoice as several lines, one code each, repeating the invoice's
number, date and patient on every line. Rules reason about invoices, so the lines are grouped by
(``practitioner_id``, ``invoice_id``) before anything is checked, wherever they stand in the file:

* the invoice's codes are its lines' codes, in line order (``G`` then ``MD`` gives ``G+MD``);
* its amount is the exact sum of its lines' amounts (decimal, to the cent); a line without an
  amount among lines that have one is an input error (a total missing a line would be wrong);
* every other SPEC §1 field must agree between the lines: a line that says otherwise is an input
  error naming both lines, one per field, and the invoice is not checked. An empty cell agrees
  with anything (exports often fill the patient's details on the first line only); the invoice
  takes the first value given. Extra columns (act labels, unit prices...) are not compared: the
  invoice keeps the first line's;
* the invoice's ``line`` is its first line, and it is checked in the rank of its first line.

Memory: a file is grouped whole, because a later line may still belong to any invoice. Only one
record per invoice is kept (the first line's values, the codes, the running total and the line
numbers), about a kilobyte: a year of a large practice (50 000 invoices) stays near 50 MB. Per-
invoice files never come here and keep streaming.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

import attrs

from billing_rules.model import InputError
from billing_rules.readers.base import RawRow
from billing_rules.readers.columns import CODE, FIELDS
from billing_rules.readers.rows import KNOWN_COLUMNS, read_value, readable_text

_MISSING = "valeur obligatoire manquante"
#: Fields whose lines are not compared: they are what differs from one act to the next.
_PER_ACT = frozenset({CODE, "codes", "amount"})
_COMPARED = tuple(field for field in FIELDS if field not in _PER_ACT)
#: Line numbers quoted at most in a message.
_LINES_SHOWN = 6


@attrs.define
class _Invoice:
    """The invoice being assembled from its lines."""

    first: RawRow
    values: dict[str, Any]
    lines: list[int | None]
    codes: list[str] = attrs.field(factory=list)
    total: Decimal | None = None
    without_amount: list[int | None] = attrs.field(factory=list)
    #: field -> (canonical value, line that gave it)
    given: dict[str, tuple[Any, int | None]] = attrs.field(factory=dict)
    errors: list[tuple[int | None, str, str]] = attrs.field(factory=list)
    disagreeing: set[str] = attrs.field(factory=set)


@attrs.frozen
class Grouped:
    """One invoice made of lines: the row to read, or the errors that keep it from being read.

    Attributes:
        raw: the invoice as one row (line = its first line), or its first line when in error.
        errors: input errors located on the lines they are about; when any, ``raw`` is not read.
    """

    raw: RawRow
    errors: tuple[InputError, ...] = ()


def group_lines(rows: Iterable[RawRow]) -> Iterator[Grouped | RawRow]:
    """The invoices of a per-act file, in the order of their first lines.

    A row that identifies no invoice (unreadable, or without ``practitioner_id`` or
    ``invoice_id``) comes out alone and as it is, in its place, for the general reading to
    report.
    """
    entries: list[_Invoice | RawRow] = []
    invoices: dict[tuple[str, str], _Invoice] = {}
    for raw in rows:
        key = None if raw.broken else _identity(raw)
        if key is None:
            entries.append(raw)
            continue
        invoice = invoices.get(key)
        if invoice is None:
            invoice = invoices[key] = _Invoice(first=raw, values=dict(raw.values), lines=[])
            entries.append(invoice)
        _add(invoice, raw)
    invoices.clear()
    for entry in entries:
        yield entry if isinstance(entry, RawRow) else _finish(entry)


def _identity(raw: RawRow) -> tuple[str, str] | None:
    damaged = {field for field, _ in raw.problems}
    if "practitioner_id" in damaged or "invoice_id" in damaged:
        return None
    practitioner_id = readable_text(raw.values, "practitioner_id")
    invoice_id = readable_text(raw.values, "invoice_id")
    if practitioner_id and invoice_id:
        return (practitioner_id, invoice_id)
    return None


def _add(invoice: _Invoice, raw: RawRow) -> None:
    line = raw.line
    invoice.lines.append(line)
    values = raw.values
    damaged = {field for field, _ in raw.problems}
    invoice.errors.extend((line, field, message) for field, message in raw.problems)
    # The line's codes: ``code`` in a per-act file, ``codes`` under --lines.
    column = CODE if CODE in values else "codes"
    if column not in damaged:
        text = _codes_text(values.get(column))
        if text is None:
            invoice.errors.append((line, column, _MISSING))
        else:
            _, problem = read_value("codes", text)
            if problem is not None:
                invoice.errors.append((line, column, problem))
            else:
                invoice.codes.append(text)
    if "amount" not in damaged:
        amount, problem = read_value("amount", values.get("amount"))
        if problem is not None:
            invoice.errors.append((line, "amount", problem))
        elif amount is None:
            invoice.without_amount.append(line)
        else:
            invoice.total = amount if invoice.total is None else invoice.total + amount
    for field in _COMPARED:
        value = values.get(field)
        if field in damaged or value is None or (type(value) is str and not value.strip()):
            continue
        canonical = _canonical(field, value)
        held = invoice.given.get(field)
        if held is None:
            invoice.given[field] = (canonical, line)
            invoice.values[field] = value
        elif held[0] != canonical and field not in invoice.disagreeing:
            invoice.disagreeing.add(field)
            invoice.errors.append((line, field, _disagreement(field, held[1])))


def _codes_text(value: Any) -> str | None:
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
    if field in KNOWN_COLUMNS:
        try:
            parsed, problem = read_value(field, value)
        except TypeError:  # a JSON list or object where text was expected
            problem = "?"
        if problem is None:
            return parsed
    return value.strip() if type(value) is str else repr(value)


def _disagreement(field: str, earlier: int | None) -> str:
    where = f"la ligne {earlier}" if earlier is not None else "une ligne précédente"
    return (
        f"{field} différent de celui de {where} pour la même facture : les lignes d'une facture "
        "ne diffèrent que par le code et le montant"
    )


def _finish(invoice: _Invoice) -> Grouped:
    first = invoice.first
    invoice_id = readable_text(first.values, "invoice_id")
    errors = list(invoice.errors)
    if invoice.total is not None and invoice.without_amount:
        lines = _line_list(invoice.lines)
        errors.extend(
            (
                line,
                "amount",
                f"montant absent alors que d'autres lignes de la même facture en ont un ({lines})",
            )
            for line in invoice.without_amount
        )
    if errors:
        errors.sort(key=_error_order)
        found = tuple(
            InputError(line=line, field=field, message=message, file=first.file, invoice_id=invoice_id)
            for line, field, message in errors
        )
        return Grouped(first, found)
    values = invoice.values
    values.pop(CODE, None)
    values["codes"] = "+".join(invoice.codes)
    if invoice.total is not None:
        values["amount"] = format(invoice.total, "f")
    else:
        values.pop("amount", None)
    return Grouped(attrs.evolve(first, values=values, problems=()))


def _error_order(error: tuple[int | None, str, str]) -> tuple[int, int]:
    """By line, then in SPEC order of the fields (the order of a row's own input errors)."""
    line, field, _ = error
    field = "codes" if field == CODE else field  # a line's code stands where the invoice's codes do
    return (line or 0, FIELDS.index(field) if field in FIELDS else len(FIELDS))


def _line_list(lines: list[int | None]) -> str:
    shown = [str(line) for line in lines[:_LINES_SHOWN] if line is not None]
    if not shown:
        return "lignes du tableau"
    more = "…" if len(lines) > _LINES_SHOWN else ""
    return f"ligne{'s' if len(lines) > 1 else ''} {', '.join(shown)}{more}"
