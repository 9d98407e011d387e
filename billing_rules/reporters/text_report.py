"""The French report for billing staff (``--format text``, the default).

Read top to bottom at the desk, invoice by invoice, with the export open next to it: each finding
sits under its invoice (number, date, practitioner, line of the file), and the totals come last.
Only characters Windows-1252 can encode are added by this module, so the report survives being
saved and reopened in older French office tools.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import TextIO

from billing_rules.explain import window_sentence
from billing_rules.model import Finding, InputError, Report, Severity
from billing_rules.money import format_euros
from billing_rules.reporters.terminal import printable as _printable

SEVERITY_LABELS: dict[Severity, str] = {
    Severity.ERROR: "ERREUR",
    Severity.WARNING: "ALERTE",
    Severity.OPPORTUNITY: "OPPORTUNITÉ",
}
"""How each severity is named for billing staff."""

# What a finding's amount means depends on its severity (SPEC §2): euros at risk for an error,
# euros missed for an opportunity; a warning only has one for AMOUNT-ABOVE (the excess).
_AMOUNT_LABELS = {
    Severity.ERROR: "montant à risque",
    Severity.WARNING: "montant en cause",
    Severity.OPPORTUNITY: "manque à gagner",
}

_STDIN_NAME = "-"
_LABEL_WIDTH = max(len(label) for label in SEVERITY_LABELS.values())

# ANSI SGR parameters; kept to the eight basic colours every terminal (and Windows 10+) renders.
_BOLD = "1"
_DIM = "2"
_SEVERITY_STYLES = {
    Severity.ERROR: "1;31",
    Severity.WARNING: "1;33",
    Severity.OPPORTUNITY: "1;32",
}


class _Painter:
    """Wraps text in ANSI codes, or leaves it alone when colour is off (files, pipes, NO_COLOR)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, style: str) -> str:
        if not self.enabled or not text:
            return text
        return f"\x1b[{style}m{text}\x1b[0m"


def _file_label(name: str) -> str:
    """``-`` means standard input; say so instead of printing a lone dash."""
    return "entrée standard" if name == _STDIN_NAME else _printable(name)


def _count(number: int, singular: str, plural: str) -> str:
    """French agreement: 0 and 1 take the singular (« 0 facture lue », « 1 facture lue »)."""
    return f"{number} {singular if number < 2 else plural}"


def _french_date(finding: Finding) -> str:
    """dd/mm/yyyy: how dates appear on a feuille de soins and in practice software."""
    return finding.date.strftime("%d/%m/%Y")


def _where(file: str | None, line: int | None, *, with_file: bool) -> str:
    """``ligne 8`` or ``jour.csv, ligne 8``; empty when nothing locates the row (JSON arrays)."""
    parts = []
    if with_file and file is not None:
        parts.append(_file_label(file))
    if line is not None:
        parts.append(f"ligne {line}")
    return ", ".join(parts)


def _invoice_key(finding: Finding) -> tuple[object, ...]:
    """What makes two consecutive findings belong to the same invoice heading."""
    return (finding.seq, finding.file, finding.line, finding.practitioner_id, finding.invoice_id)


def _bad_rows(errors: Sequence[InputError]) -> int:
    """How many rows were set aside: input errors come one per bad field, staff fix whole rows."""
    rows: set[tuple[object, ...]] = set()
    for index, error in enumerate(errors):
        if error.line is not None:
            rows.add((error.file, "line", error.line))
        elif error.invoice_id is not None:
            rows.add((error.file, "invoice", error.invoice_id))
        else:
            rows.add((error.file, "entry", index))
    return len(rows)


class TextReporter:
    """``--format text``: the readable French report, the default of ``billing-rules check``."""

    name = "text"

    def render(self, report: Report, stream: TextIO, *, color: bool) -> None:
        """Write the header, the findings by invoice, the unreadable rows, then the totals.

        Args:
            report: the result of one check, already in SPEC order (not re-sorted here).
            stream: where to write.
            color: add ANSI colours (severity labels, headings); never when writing to a file.
        """
        for line in self.lines(report, color=color):
            stream.write(line)
            stream.write("\n")

    def lines(self, report: Report, *, color: bool = False) -> Iterator[str]:
        """The report line by line, without newlines: handy for tests and for embedding in a GUI."""
        paint = _Painter(color)
        yield from self._header(report, paint)
        yield ""
        yield from self._findings(report, paint)
        if report.input_errors:
            yield ""
            yield from self._input_errors(report, paint)
        yield ""
        yield from self._totals(report, paint)

    def _header(self, report: Report, paint: _Painter) -> Iterator[str]:
        parts = ["Contrôle de facturation NGAP"]
        if len(report.files) == 1:
            parts.append(f"fichier : {_file_label(report.files[0])}")
        elif report.files:
            parts.append("fichiers : " + ", ".join(_file_label(name) for name in report.files))
        parts.append(_count(report.events, "facture lue", "factures lues"))
        yield paint(" — ".join(parts), _BOLD)

    def _findings(self, report: Report, paint: _Painter) -> Iterator[str]:
        if not report.findings:
            yield "Aucune anomalie ni opportunité détectée."
            return
        code_width = max(len(finding.rule) for finding in report.findings)
        groups = itertools.groupby(report.findings, key=_invoice_key)
        for index, (_, group) in enumerate(groups):
            findings = list(group)
            if index:
                yield ""
            yield paint(self._invoice_heading(findings[0], report.multiple_files), _BOLD)
            for finding in findings:
                yield from self._finding(finding, code_width, paint)

    @staticmethod
    def _invoice_heading(finding: Finding, with_file: bool) -> str:
        parts = [
            f"Facture {finding.invoice_id} du {_french_date(finding)}",
            f"praticien {finding.practitioner_id}",
        ]
        where = _where(finding.file, finding.line, with_file=with_file)
        if where:
            parts.append(where)
        return _printable(" — ".join(parts))

    @staticmethod
    def _finding(finding: Finding, code_width: int, paint: _Painter) -> Iterator[str]:
        label = SEVERITY_LABELS[finding.severity].ljust(_LABEL_WIDTH)
        text = _printable(finding.message)
        if finding.amount is not None:
            text += f" ({_AMOUNT_LABELS[finding.severity]} : {format_euros(finding.amount)})"
        if finding.amount is not None and finding.yearly:
            text = text[:-1] + " par an)"
        styled_label = paint(label, _SEVERITY_STYLES[finding.severity])
        yield f"  {styled_label}  {_printable(finding.rule.ljust(code_width))}  {text}"
        indent = " " * (2 + _LABEL_WIDTH + 2 + code_width + 2)
        if finding.suggestion:
            yield f"{indent}{paint('Suggestion :', _DIM)} {_printable(finding.suggestion)}"
        window = window_sentence(finding)
        if window:
            yield f"{indent}{paint('Fenêtre :', _DIM)} {_printable(window)}"
        if finding.citation:
            yield f"{indent}{paint('Référence :', _DIM)} {_printable(finding.citation)}"
        if finding.action:
            yield f"{indent}{paint('À faire :', _DIM)} {_printable(finding.action)}"

    @staticmethod
    def _input_errors(report: Report, paint: _Painter) -> Iterator[str]:
        errors = report.input_errors
        yield paint(f"Lignes illisibles, non contrôlées ({_bad_rows(errors)})", _BOLD)
        for error in errors:
            where = _where(error.file, error.line, with_file=report.multiple_files)
            if not where:
                where = f"facture {error.invoice_id}" if error.invoice_id else "position inconnue"
            yield _printable(f"  {where} — {error.described}")

    @staticmethod
    def _totals(report: Report, paint: _Painter) -> Iterator[str]:
        summary = report.summary
        bad_rows = _bad_rows(report.input_errors)
        # One input error per bad field (SPEC §1), but staff fix rows: count rows, mention fields.
        fields_note = ""
        if summary.input_errors != bad_rows:
            fields_note = f" ({_count(summary.input_errors, 'champ', 'champs')})"

        def style_if(count: int, style: str) -> str | None:
            return style if count else None

        rows: list[_TotalRow] = [
            ("Erreurs", str(summary.errors), style_if(summary.errors, _SEVERITY_STYLES[Severity.ERROR]), ""),
            (
                "Alertes",
                str(summary.warnings),
                style_if(summary.warnings, _SEVERITY_STYLES[Severity.WARNING]),
                "",
            ),
            (
                "Opportunités",
                str(summary.opportunities),
                style_if(summary.opportunities, _SEVERITY_STYLES[Severity.OPPORTUNITY]),
                "",
            ),
            ("Lignes en erreur de saisie", str(bad_rows), style_if(bad_rows, _BOLD), fields_note),
            ("Montant à risque", format_euros(summary.amount_at_risk), None, ""),
            ("Manque à gagner", format_euros(summary.missed_revenue), None, ""),
            ("Forfaits annuels manqués", format_euros(summary.yearly_revenue_missed), None, " par an"),
        ]
        yield paint("Totaux", _BOLD)
        yield from _aligned(rows, paint)
        if report.engine != "row":
            # The row engine is the default and says nothing; another engine is named.
            note = f"Moteur : {report.engine}"
            if report.row_rules:
                note += " (ligne à ligne en Python : " + ", ".join(report.row_rules) + ")"
            yield ""
            yield note


_TotalRow = tuple[str, str, "str | None", str]
"""label, value, ANSI style (None: plain), note printed after the value."""


def _aligned(rows: Sequence[_TotalRow], paint: _Painter) -> Iterator[str]:
    """``label : value`` lines with the values right-aligned, so amounts line up by their cents."""
    label_width = max(len(label) for label, _, _, _ in rows)
    value_width = max(len(value) for _, value, _, _ in rows)
    for label, value, style, note in rows:
        padded = value.rjust(value_width)
        shown = paint(padded, style) if style else padded
        yield f"  {label.ljust(label_width)} : {shown}{note}"


def input_error_lines(report: Report) -> Iterator[str]:
    """The unreadable rows of ``report`` as the text report lists them, without colour.

    For the commands that read billing files without checking them (``prepare``): the same words.
    """
    return TextReporter._input_errors(report, _Painter(False))
