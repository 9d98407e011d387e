"""The CSV report (``--format csv``): one row per finding, for the practice's spreadsheets and tools.

French offices open CSV files in Excel or LibreOffice: the file uses ``;`` and decimal commas (what
a French spreadsheet expects), starts with a UTF-8 byte order mark (without it Excel reads accents
as Windows-1252), and no cell can become a formula. Patient ids and messages come from other
software: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be run
as a formula (``=HYPERLINK(...)`` leaking data, DDE commands), so such a cell gets a leading
apostrophe, the spreadsheets' own "this is text" mark (OWASP's advice on CSV injection).

The file is for people at a French desk: the header and the severities are French
(``règle;gravité;facture;…``, ``erreur``/``alerte``/``opportunité``), while the JSON report keeps the
English contract names. Input errors follow the findings, one row per bad field, with severity
``erreur de saisie``, so an import never silently loses the rows that were not checked.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from typing import TextIO

from billing_rules.model import Report
from billing_rules.money import round_cents

COLUMNS = (
    "rule",
    "severity",
    "invoice_id",
    "line",
    "file",
    "practitioner_id",
    "patient_id",
    "date",
    "message",
    "amount",
    "suggestion",
    "source",
    "citation",
    "action",
    "window_first_invoice_id",
    "window_first_date",
    "yearly",
)
"""The CSV report's columns, by the keys of SPEC §2's findings (plus ``file``); a frequency
finding's window is its first invoice (number and date). See :data:`HEADERS`."""

HEADERS = {
    "rule": "règle",
    "severity": "gravité",
    "invoice_id": "facture",
    "line": "ligne",
    "file": "fichier",
    "practitioner_id": "praticien",
    "patient_id": "patient",
    "date": "date",
    "message": "message",
    "amount": "montant",
    "suggestion": "suggestion",
    "source": "source",
    "citation": "référence",
    "action": "à faire",
    "window_first_invoice_id": "fenêtre : 1re facture",
    "window_first_date": "fenêtre : date de la 1re facture",
    "yearly": "montant annuel",
}
"""The French header of each column (a column without one is headed by its key)."""

INPUT_ERROR = "erreur de saisie"
"""The ``gravité`` of an unreadable field's row."""


def header() -> list[str]:
    """The header row: :data:`COLUMNS` in French."""
    return [HEADERS.get(column, column) for column in COLUMNS]


DELIMITER = ";"
BOM = "\ufeff"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: str) -> str:
    """A cell value that no spreadsheet will evaluate: ``'`` before a formula-starting character."""
    if value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _amount(amount: Decimal | None) -> str:
    """``26,50``: decimal comma, no thousands separator (spreadsheets read it as a number)."""
    if amount is None:
        return ""
    return f"{round_cents(amount):.2f}".replace(".", ",")


def rows(report: Report) -> Iterator[list[str]]:
    """The data rows (without header), every cell already neutralized."""
    for finding in report.findings:
        window = finding.window
        cells = [
            finding.rule,
            finding.severity.french,
            finding.invoice_id,
            "" if finding.line is None else str(finding.line),
            finding.file or "",
            finding.practitioner_id,
            finding.patient_id,
            finding.date.isoformat(),
            finding.message,
            _amount(finding.amount),
            finding.suggestion or "",
            finding.source,
            finding.citation or "",
            finding.action or "",
            (window.first_invoice_id or "") if window is not None else "",
            window.first_date.isoformat() if window is not None and window.first_date else "",
            # « oui »: the amount is a forfait per year, not the day's euros (SPEC §2): a sum of the
            # column must leave it out to match « Manque à gagner ».
            "oui" if finding.yearly else "",
        ]
        yield [neutralize(cell) for cell in cells]
    for error in report.input_errors:
        cells = [
            "",
            INPUT_ERROR,
            error.invoice_id or "",
            "" if error.line is None else str(error.line),
            error.file or "",
            "",
            "",
            "",
            error.described,
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ]
        yield [neutralize(cell) for cell in cells]


class CsvReporter:
    """``--format csv``: one row per finding, ``;``-separated, safe to open in a spreadsheet."""

    name = "csv"

    def render(self, report: Report, stream: TextIO, *, color: bool) -> None:
        """Write the BOM, the header and the rows (CRLF line ends, as spreadsheets write them)."""
        del color
        stream.write(BOM)
        writer = csv.writer(stream, delimiter=DELIMITER, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(header())
        writer.writerows(rows(report))
