"""The files a ledger is exported to and loaded from (``ledger export``, ``ledger import``).

Exports use the SPEC §1 columns, so a ledger can always be read back by this tool or any other.
Two kinds of export, for two readers:

* **JSON Lines** is exact: every value reads back as stored. It is the copy to re-import (a
  backup, a new ledger after damage: the recovery the damaged-ledger message recommends).
* **CSV** is for spreadsheets: a cell starting with = + - @ gets an apostrophe in front, as in
  the CSV report, so that a spreadsheet shows it instead of running it as a formula. Read back,
  such a cell is no longer the stored value (patient ``-P9`` would come back as ``'-P9``, a
  patient never seen, and IMT-ONCE would miss the next IMT): ``ledger import`` refuses these
  cells (:func:`protected_fields`) rather than store them or guess the original back. ``--raw``
  writes the CSV as stored, exact for programs.

Either way a column is named once: an extra column named like a SPEC one (a value an older release
kept as an extra, see :data:`billing_rules.ledger.schema.PROMOTED`) fills that column when it is
empty, and gives way to it when it is set (:func:`spec_values`).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

from billing_rules.ledger.common import SPEC_COLUMNS
from billing_rules.model import Event
from billing_rules.reporters.csv_report import neutralize

if TYPE_CHECKING:
    from billing_rules.ledger.protocol import Ledger

#: The input error of a value carrying the CSV export's protective apostrophe.
PROTECTED = (
    "valeur précédée de l'apostrophe de protection d'un export CSV pour tableur : relue ainsi, ce "
    "ne serait plus la valeur d'origine"
)


def protected_fields(event: Event) -> list[str]:
    """The fields of ``event`` whose text is a cell of the CSV export protected for spreadsheets.

    A value ``'`` followed by = + - @ (or a tab, a carriage return) is what :func:`neutralize`
    makes of a stored value: no billing identifier starts so, and the apostrophe is never taken
    off by guess (``'P3`` or ``P'2`` are values like any other).
    """

    def protected(value: Any) -> bool:
        return type(value) is str and value[:1] == "'" and neutralize(value[1:]) == value

    found = [
        field
        for field in ("invoice_id", "practitioner_id", "patient_id", "specialty")
        if protected(getattr(event, field))
    ]
    if any(protected(code) for code in event.codes):
        found.append("codes")
    found += [key for key, value in event.extra.items() if protected(key) or protected(value)]
    return found


class SalvagedEvents:
    """The invoices read back from a damaged ledger, served like :meth:`Ledger.events`."""

    def __init__(self, events: list[Event]) -> None:
        self._events = events

    def events(
        self, *, practitioner_id: str | None = None, start: dt.date | None = None, end: dt.date | None = None
    ) -> Iterator[Event]:
        """The invoices, filtered as :meth:`Ledger.events` filters them (in storage order)."""
        for event in self._events:
            if practitioner_id is not None and event.practitioner_id != practitioner_id:
                continue
            if (start is not None and event.date < start) or (end is not None and event.date > end):
                continue
            yield event


def write_export(
    ledger: Ledger | SalvagedEvents,
    selection: dict[str, Any],
    output_format: str,
    stream: TextIO,
    *,
    raw: bool = False,
) -> None:
    """The invoices of ``ledger`` chosen by ``selection`` (``Ledger.events``'s filters) to ``stream``."""
    cell = (lambda value: value) if raw else neutralize  # the CSV report's protection, unless --raw

    if output_format == "jsonl":
        for event in ledger.events(**selection):
            stream.write(json.dumps(spec_values(event, native=True), ensure_ascii=False) + "\n")
        return
    # An extra named like a SPEC column has no column of its own: its value is the column's, when
    # the column is empty (see spec_values). A name is never written twice: the file reads back.
    extras = sorted({key for event in ledger.events(**selection) for key in event.extra} - _SPEC_NAMES)
    writer = csv.writer(stream, delimiter=";", lineterminator="\n")
    writer.writerow([cell(name) for name in (*SPEC_COLUMNS, *extras)])
    for event in ledger.events(**selection):
        values = spec_values(event, native=False)
        writer.writerow(
            [cell(values[column]) for column in SPEC_COLUMNS]
            + [cell(_cell(event.extra.get(key))) for key in extras]
        )


_SPEC_NAMES = frozenset(SPEC_COLUMNS)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def spec_values(event: Event, *, native: bool) -> dict[str, Any]:
    """SPEC §1 values of ``event``: JSON natives for JSON Lines, text cells for CSV.

    JSON Lines also gets the extra columns, after the SPEC ones. An extra named like a SPEC column
    (an older release's ``discharge_date`` or ``km``, kept as an extra: see
    :data:`billing_rules.ledger.schema.PROMOTED`) is written in that column when the column is
    empty, so that the value is neither dropped nor named twice; when the column is set, the
    column's value is written (it is the one the rules count).
    """

    def flag(value: bool) -> Any:
        return value if native else ("1" if value else "0")

    clock = None
    if event.time is not None:
        clock = event.time.strftime("%H:%M" if not event.time.second else "%H:%M:%S")
    referral = None
    if event.referral_at is not None:
        referral = event.referral_at.strftime(
            "%Y-%m-%dT%H:%M" if not event.referral_at.second else "%Y-%m-%dT%H:%M:%S"
        )
    values: dict[str, Any] = {
        "invoice_id": event.invoice_id,
        "date": event.date.isoformat(),
        "time": clock,
        "practitioner_id": event.practitioner_id,
        "specialty": event.specialty,
        "sector": event.sector.value,
        "patient_id": event.patient_id,
        "birth_date": event.birth_date.isoformat(),
        "ald": flag(event.ald),
        "palliative": flag(event.palliative),
        "neurodegenerative": flag(event.neurodegenerative),
        "mt_status": event.mt_status.value,
        "declares_mt": flag(event.declares_mt),
        "place": event.place.value,
        "homebound": flag(event.homebound),
        "codes": "+".join(event.codes),
        "amount": (str(event.amount) if event.amount is not None else None),
        "regulated": flag(event.regulated),
        "referral_at": referral,
        "status": event.status.value,
        "discharge_date": event.discharge_date.isoformat() if event.discharge_date is not None else None,
        "km": (str(event.km) if event.km is not None else None),
    }
    for key, value in event.extra.items():
        if key not in values:
            if native:
                values[key] = value
        elif values[key] is None and value is not None:
            values[key] = value if native else _cell(value)
    if native:
        return values
    return {key: "" if value is None else value for key, value in values.items()}
