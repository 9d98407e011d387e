"""The JSON report of SPEC §2: the format other programs rely on.

Key names and order are public contract. ``file`` is added to findings and input errors only when
several files were checked, so a one-file consumer sees exactly the SPEC example; ``window`` only
on frequency findings (SPEC §2), while ``citation`` and ``action`` are on every finding (``null``
when the rule declares none).
"""

from __future__ import annotations

from typing import Any, TextIO

from billing_rules.model import Finding, FindingWindow, InputError, Report
from billing_rules.money import euros_to_json
from billing_rules.reporters import indented_json
from billing_rules.reporters.files import write_text


def report_to_dict(report: Report) -> dict[str, Any]:
    """The SPEC §2 object for ``report``, as plain JSON-ready values (dicts keep SPEC key order).

    Exposed so that embedding software can get the same structure without a text round trip.
    """
    with_file = report.multiple_files
    return {
        "summary": summary_to_dict(report),
        "findings": [_finding(finding, with_file) for finding in report.findings],
        "input_errors": [_input_error(error, with_file) for error in report.input_errors],
    }


def summary_to_dict(report: Report) -> dict[str, Any]:
    """The SPEC §2 ``summary`` object of ``report`` (also the last line of ``--format jsonl``)."""
    summary = report.summary
    return {
        "events": summary.events,
        "errors": summary.errors,
        "warnings": summary.warnings,
        "opportunities": summary.opportunities,
        "input_errors": summary.input_errors,
        "amount_at_risk": euros_to_json(summary.amount_at_risk),
        "missed_revenue": euros_to_json(summary.missed_revenue),
        "yearly_revenue_missed": euros_to_json(summary.yearly_revenue_missed),
        "engine": report.engine,
    }


def _finding(finding: Finding, with_file: bool) -> dict[str, Any]:
    """One ``findings[]`` entry; ``seq`` stays internal (its meaning is the list's order)."""
    entry: dict[str, Any] = {
        "rule": finding.rule,
        "severity": finding.severity.value,
        "invoice_id": finding.invoice_id,
        "line": finding.line,
        "practitioner_id": finding.practitioner_id,
        "patient_id": finding.patient_id,
        "date": finding.date.isoformat(),
        "message": finding.message,
        "amount": None if finding.amount is None else euros_to_json(finding.amount),
        "suggestion": finding.suggestion,
        "source": finding.source,
        "citation": finding.citation,
        "action": finding.action,
    }
    if finding.window is not None:
        entry["window"] = _window(finding.window)
    if finding.yearly:
        # A forfait per year (OPP-MT-DECLARE): summed in ``yearly_revenue_missed``, never in
        # ``missed_revenue``; a program re-adding the amounts must know which ones are yearly.
        entry["yearly"] = True
    if with_file:
        entry["file"] = finding.file
    return entry


def _window(window: FindingWindow) -> dict[str, Any]:
    """The window a frequency finding exceeds: its first invoice (SPEC §2), then how it counts."""
    return {
        "first_invoice_id": window.first_invoice_id,
        "first_date": window.first_date.isoformat() if window.first_date is not None else None,
        "first_practitioner_id": window.first_practitioner_id,
        "count": window.count,
        "limit": window.limit,
        "period": window.period,
    }


def _input_error(error: InputError, with_file: bool) -> dict[str, Any]:
    """One ``input_errors[]`` entry."""
    entry: dict[str, Any] = {"line": error.line, "field": error.field, "message": error.message}
    if with_file:
        entry["file"] = error.file
    return entry


class JsonReporter:
    """``--format json``: one indented, UTF-8 JSON object, byte-for-byte reproducible."""

    name = "json"

    def render(self, report: Report, stream: TextIO, *, color: bool) -> None:
        """Write the SPEC §2 object and a final newline; ``color`` is ignored (machines read this).

        ``ensure_ascii=False`` keeps French messages readable (``«``, ``é``); the caller makes the
        stream UTF-8. The text is built whole and written in one call: ``json.dump`` writes each
        token separately (about 60 writes per finding), which cost more than the encoding itself;
        :mod:`.indented_json` writes ``json.dumps(..., indent=2)``'s text without its Python encoder.
        """
        del color
        write_text(stream, indented_json.dumps(report_to_dict(report)) + "\n")
