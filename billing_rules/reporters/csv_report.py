"""The CSV report (``--format csv``): one row per finding, for the practice's spreadsheets and tools.

French offices open CSV files in Excel or LibreOffice: the file uses ``;`` and decimal commas (what
a French spreadsheet expects), starts with a UTF-8 byte order mark (without it Excel reads accents
as Windows-1252), and no cell can become a formula. Patient ids and messages come from other
software: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be run
as a formula (``=HYPERLINK(...)`` leaking data, DDE commands), so such a cell gets a leading
apostrophe, the spreadsheets' own "this is text" mark (OWASP's advice on CSV injection).

Input errors follow the findings, one row per bad field, with severity ``input_error``, so an
import never silently loses the rows that were not checked.
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
)
"""Header of the CSV report: the keys of SPEC §2's findings, plus ``file``."""

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
        cells = [
            finding.rule,
            finding.severity.value,
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
        ]
        yield [neutralize(cell) for cell in cells]
    for error in report.input_errors:
        cells = [
            "",
            "input_error",
            error.invoice_id or "",
            "" if error.line is None else str(error.line),
            error.file or "",
            "",
            "",
            "",
            f"colonne {error.field} : {error.message}",
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
        writer.writerow(COLUMNS)
        writer.writerows(rows(report))
