"""``check --statistics``: one line per rule, with its count and its euros, instead of the findings.

Like ``ruff check --statistics``: the practice sees at a glance which rules cost it most (a
thousand findings of one rule are one coding habit to change). Sorted by count, then euros, then
code. The euros are the findings' amounts (at risk for an error, missed for an opportunity, the
excess for AMOUNT-ABOVE); a rule whose findings carry none shows none. Unreadable rows are one more
line, as they are in the report's totals.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import TextIO

import attrs

from billing_rules.model import Report, Severity
from billing_rules.money import format_euros, round_cents

FORMATS = ("text", "json", "csv")
"""The ``--format`` values ``--statistics`` supports."""


@attrs.frozen
class RuleCount:
    """How often one rule fired, and for how much."""

    rule: str
    severity: Severity
    count: int
    amount: Decimal | None
    #: The amounts are forfaits per year (OPP-MT-DECLARE), not the day's euros (SPEC §2).
    yearly: bool = False


def count_rules(report: Report) -> list[RuleCount]:
    """One :class:`RuleCount` per rule that fired, the most frequent first."""
    counts: dict[tuple[str, bool, Severity], int] = {}
    amounts: dict[tuple[str, bool, Severity], Decimal] = {}
    for finding in report.findings:
        key = (finding.rule, finding.yearly, finding.severity)
        counts[key] = counts.get(key, 0) + 1
        if finding.amount is not None:
            amounts[key] = amounts.get(key, Decimal(0)) + finding.amount
    rows = [
        RuleCount(rule=rule, severity=severity, count=count, amount=amounts.get(key), yearly=yearly)
        for key, count in counts.items()
        for rule, yearly, severity in (key,)
    ]
    # A yearly amount is not weighed against a day's euros: among rules fired as often, it comes last.
    return sorted(
        rows,
        key=lambda row: (-row.count, row.yearly, -(row.amount or 0), row.rule, -row.severity.rank),
    )


def _json_amount(amount: Decimal | None) -> float | None:
    return None if amount is None else float(round_cents(amount))


def render(report: Report, stream: TextIO, output_format: str) -> None:
    """Write the statistics of ``report`` in ``output_format`` (one of :data:`FORMATS`)."""
    rows = count_rules(report)
    if output_format == "json":
        data = {
            "rules": [
                {
                    "rule": row.rule,
                    "severity": row.severity.value,
                    "count": row.count,
                    "amount": _json_amount(row.amount),
                    **({"yearly": True} if row.yearly else {}),
                }
                for row in rows
            ],
            "input_errors": len(report.input_errors),
        }
        json.dump(data, stream, ensure_ascii=False, indent=2)
        stream.write("\n")
    elif output_format == "csv":
        from billing_rules.reporters.csv_report import BOM, DELIMITER, neutralize

        stream.write(BOM)
        writer = csv.writer(stream, delimiter=DELIMITER, lineterminator="\r\n")
        writer.writerow(("règle", "gravité", "nombre", "montant", "montant annuel"))
        for row in rows:
            amount = "" if row.amount is None else f"{round_cents(row.amount):.2f}".replace(".", ",")
            yearly = "oui" if row.yearly else ""
            writer.writerow((neutralize(row.rule), row.severity.french, str(row.count), amount, yearly))
        if report.input_errors:
            writer.writerow(("", "erreur de saisie", str(len(report.input_errors)), "", ""))
    else:
        for line in text_lines(rows, len(report.input_errors)):
            stream.write(line + "\n")


def text_lines(rows: Sequence[RuleCount], input_errors: int) -> list[str]:
    """The French table: count, code, severity, euros; a last line for unreadable fields."""
    if not rows and not input_errors:
        return ["Aucune anomalie ni opportunité détectée."]
    count_width = max([len(str(row.count)) for row in rows] + [len(str(input_errors))])
    code_width = max([len(row.rule) for row in rows] + [4])
    severity_width = max([len(row.severity.french) for row in rows] + [6])
    moneys = [
        format_euros(row.amount) + (" par an" if row.yearly else "") if row.amount is not None else ""
        for row in rows
    ]
    money_width = max([len(money) for money in moneys] + [0])
    lines = []
    for row, money in zip(rows, moneys, strict=True):
        shown = money.rjust(money_width) if money else ""
        lines.append(
            f"{str(row.count).rjust(count_width)}  {row.rule.ljust(code_width)}  "
            f"{row.severity.french.ljust(severity_width)}  {shown}".rstrip()
        )
    if input_errors:
        noun = "champ illisible" if input_errors < 2 else "champs illisibles"
        lines.append(f"{str(input_errors).rjust(count_width)}  {noun} (lignes non contrôlées)")
    return lines
