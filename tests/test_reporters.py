"""Reporters: the SPEC §2 JSON contract, the French text report, French money formatting."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from decimal import Decimal

import pytest

from billing_rules.model import Finding, FindingWindow, InputError, Report, Severity
from billing_rules.money import euros_to_json, format_euros, round_cents
from billing_rules.reporters import BUILTIN_REPORTERS, JsonReporter, Reporter, TextReporter
from billing_rules.reporters.json_report import report_to_dict

NBSP = "\u00a0"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

FINDING_KEYS = [
    "rule",
    "severity",
    "invoice_id",
    "line",
    "practitioner_id",
    "patient_id",
    "date",
    "message",
    "amount",
    "suggestion",
    "source",
    "citation",
    "action",
]
SUMMARY_KEYS = [
    "events",
    "errors",
    "warnings",
    "opportunities",
    "input_errors",
    "amount_at_risk",
    "missed_revenue",
    "yearly_revenue_missed",
    "engine",
]


def make_finding(**overrides: object) -> Finding:
    values: dict[str, object] = {
        "rule": "IMT-ONCE",
        "severity": Severity.ERROR,
        "message": "IMT déjà facturée pour ce patient le 2023-06-12",
        "invoice_id": "F-0007",
        "practitioner_id": "10001234567",
        "patient_id": "P-42",
        "date": dt.date(2024, 3, 4),
        "line": 8,
        "amount": Decimal("60"),
        "seq": 7,
    }
    values.update(overrides)
    return Finding(**values)  # type: ignore[arg-type]


def sample_report(files: tuple[str, ...] = ("jour.csv",)) -> Report:
    """One finding of each severity, two invoices, one unreadable row with two bad fields."""
    second_file = files[-1] if files else None
    first_file = files[0] if files else None
    return Report(
        events=12,
        findings=(
            make_finding(
                file=first_file,
                citation="NGAP art. 18.2 : une seule fois par patient",
                action="facturer G au lieu de IMT",
                window=FindingWindow(
                    first_invoice_id="F-0003",
                    first_date=dt.date(2023, 6, 12),
                    first_practitioner_id="10002",
                    count=2,
                    limit=1,
                    period="ever",
                    counted="IMT",
                ),
            ),
            make_finding(
                rule="AMOUNT-ABOVE",
                severity=Severity.WARNING,
                message="montant facturé supérieur au tarif sans dépassement",
                amount=Decimal("12.50"),
                file=first_file,
            ),
            make_finding(
                rule="OPP-MEG",
                severity=Severity.OPPORTUNITY,
                message="MEG non facturée pour un enfant de moins de 6 ans",
                invoice_id="F-0009",
                patient_id="P-43",
                date=dt.date(2024, 3, 5),
                line=10,
                amount=Decimal("5"),
                suggestion="G+MEG",
                source="example",
                seq=9,
                file=second_file,
            ),
        ),
        input_errors=(
            InputError(line=5, field="date", message="date invalide « 2024-13-01 »", file=first_file),
            InputError(line=5, field="amount", message="montant illisible « 2O »", file=first_file),
        ),
        files=files,
    )


def render(reporter: Reporter, report: Report, *, color: bool = False) -> str:
    stream = io.StringIO()
    reporter.render(report, stream, color=color)
    return stream.getvalue()


# -- registry -----------------------------------------------------------------------------------


def test_builtin_reporters_follow_the_protocol() -> None:
    assert set(BUILTIN_REPORTERS) == {"json", "jsonl", "text", "csv", "html"}
    for name, reporter in BUILTIN_REPORTERS.items():
        assert isinstance(reporter, Reporter)
        assert reporter.name == name


# -- JSON ---------------------------------------------------------------------------------------


def test_json_golden_structure_single_file() -> None:
    output = render(JsonReporter(), sample_report())
    data = json.loads(output)

    assert list(data) == ["summary", "findings", "input_errors"]
    assert list(data["summary"]) == SUMMARY_KEYS
    assert data == {
        "summary": {
            "events": 12,
            "errors": 1,
            "warnings": 1,
            "opportunities": 1,
            "input_errors": 2,
            "amount_at_risk": 60.0,
            "missed_revenue": 5.0,
            "yearly_revenue_missed": 0.0,
            "engine": "row",
        },
        "findings": [
            {
                "rule": "IMT-ONCE",
                "severity": "error",
                "invoice_id": "F-0007",
                "line": 8,
                "practitioner_id": "10001234567",
                "patient_id": "P-42",
                "date": "2024-03-04",
                "message": "IMT déjà facturée pour ce patient le 2023-06-12",
                "amount": 60.0,
                "suggestion": None,
                "source": "builtin",
                "citation": "NGAP art. 18.2 : une seule fois par patient",
                "action": "facturer G au lieu de IMT",
                "window": {
                    "first_invoice_id": "F-0003",
                    "first_date": "2023-06-12",
                    "first_practitioner_id": "10002",
                    "count": 2,
                    "limit": 1,
                    "period": "ever",
                },
            },
            {
                "rule": "AMOUNT-ABOVE",
                "severity": "warning",
                "invoice_id": "F-0007",
                "line": 8,
                "practitioner_id": "10001234567",
                "patient_id": "P-42",
                "date": "2024-03-04",
                "message": "montant facturé supérieur au tarif sans dépassement",
                "amount": 12.5,
                "suggestion": None,
                "source": "builtin",
                "citation": None,
                "action": None,
            },
            {
                "rule": "OPP-MEG",
                "severity": "opportunity",
                "invoice_id": "F-0009",
                "line": 10,
                "practitioner_id": "10001234567",
                "patient_id": "P-43",
                "date": "2024-03-05",
                "message": "MEG non facturée pour un enfant de moins de 6 ans",
                "amount": 5.0,
                "suggestion": "G+MEG",
                "source": "example",
                "citation": None,
                "action": None,
            },
        ],
        "input_errors": [
            {"line": 5, "field": "date", "message": "date invalide « 2024-13-01 »"},
            {"line": 5, "field": "amount", "message": "montant illisible « 2O »"},
        ],
    }
    for finding in data["findings"]:
        # ``window`` only on a frequency finding (SPEC §2), after the contract's other keys.
        assert list(finding) == FINDING_KEYS + (["window"] if finding["rule"] == "IMT-ONCE" else [])
    for error in data["input_errors"]:
        assert list(error) == ["line", "field", "message"]


def test_json_amounts_are_numbers_with_a_decimal_point() -> None:
    output = render(JsonReporter(), sample_report())
    assert '"amount_at_risk": 60.0' in output
    assert '"missed_revenue": 5.0' in output
    assert '"amount": 12.5' in output


def test_json_warnings_are_not_summed() -> None:
    report = Report(
        events=1,
        findings=(
            make_finding(severity=Severity.WARNING, rule="AMOUNT-ABOVE", amount=Decimal("100")),
            make_finding(severity=Severity.WARNING, rule="CODE-UNKNOWN", amount=None),
        ),
        input_errors=(),
    )
    summary = report_to_dict(report)["summary"]
    assert summary["amount_at_risk"] == 0.0
    assert summary["missed_revenue"] == 0.0
    assert summary["warnings"] == 2


def test_json_sums_are_exact_and_rounded_to_cents() -> None:
    report = Report(
        events=3,
        findings=(
            make_finding(amount=Decimal("0.1")),
            make_finding(amount=Decimal("0.2"), seq=8),
            make_finding(amount=Decimal("26.505"), seq=9),
            make_finding(severity=Severity.OPPORTUNITY, rule="OPP-VL", amount=Decimal("10.005"), seq=9),
            make_finding(severity=Severity.OPPORTUNITY, rule="OPP-SNP", amount=None, seq=10),
        ),
        input_errors=(),
    )
    data = report_to_dict(report)
    # 0.1 + 0.2 summed as Decimals, not floats: exactly 26.81 (26.805 rounded half up).
    assert data["summary"]["amount_at_risk"] == 26.81
    assert data["summary"]["missed_revenue"] == 10.01
    assert [finding["amount"] for finding in data["findings"]] == [0.1, 0.2, 26.51, 10.01, None]


def test_json_file_key_only_with_several_files() -> None:
    single = report_to_dict(sample_report(("jour.csv",)))
    assert all("file" not in entry for entry in single["findings"] + single["input_errors"])

    several = report_to_dict(sample_report(("lundi.csv", "mardi.csv")))
    assert [finding["file"] for finding in several["findings"]] == ["lundi.csv", "lundi.csv", "mardi.csv"]
    assert [error["file"] for error in several["input_errors"]] == ["lundi.csv", "lundi.csv"]
    for finding in several["findings"]:
        window = ["window"] if finding["rule"] == "IMT-ONCE" else []
        assert list(finding) == [*FINDING_KEYS, *window, "file"]
    for error in several["input_errors"]:
        assert list(error) == ["line", "field", "message", "file"]


def test_json_null_line_for_json_arrays() -> None:
    report = Report(
        events=1,
        findings=(make_finding(line=None),),
        input_errors=(InputError(line=None, field="date", message="date invalide"),),
    )
    data = report_to_dict(report)
    assert data["findings"][0]["line"] is None
    assert data["input_errors"][0]["line"] is None


def test_json_is_deterministic_utf8_text_and_ignores_color() -> None:
    first = render(JsonReporter(), sample_report())
    assert first == render(JsonReporter(), sample_report(), color=True)
    assert "« 2024-13-01 »" in first  # ensure_ascii=False: no \u escapes
    assert "\\u" not in first
    assert first.endswith("}\n")
    first.encode("utf-8")


def test_json_empty_report() -> None:
    data = json.loads(render(JsonReporter(), Report(events=0, findings=(), input_errors=())))
    assert data["findings"] == [] and data["input_errors"] == []
    assert data["summary"]["amount_at_risk"] == 0.0


# -- money --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (Decimal("0"), "0,00 €"),
        (Decimal("5"), "5,00 €"),
        (Decimal("26.5"), "26,50 €"),
        (Decimal("999.99"), "999,99 €"),
        (Decimal("1234.5"), "1 234,50 €"),
        (Decimal("1234567.891"), "1 234 567,89 €"),
        (Decimal("0.125"), "0,13 €"),  # half up, as on invoices (not banker's rounding)
        (Decimal("-1500"), "-1 500,00 €"),
        (Decimal("-0.001"), "0,00 €"),
        (60, "60,00 €"),
    ],
)
def test_format_euros(amount: Decimal | int, expected: str) -> None:
    formatted = format_euros(amount)
    # Both separators are no-break spaces: an amount is never split across two lines.
    assert " " not in formatted
    assert formatted.replace(NBSP, " ") == expected


def test_format_euros_separators_are_no_break_spaces() -> None:
    assert format_euros(Decimal("1234.5")) == f"1{NBSP}234,50{NBSP}€"
    # Encodable in Windows-1252, the encoding French office tools still default to.
    format_euros(Decimal("1234.5")).encode("cp1252")


def test_round_cents_and_json_euros() -> None:
    assert round_cents(Decimal("2.675")) == Decimal("2.68")
    assert euros_to_json(Decimal("78.50")) == 78.5
    assert str(euros_to_json(Decimal("-0.001"))) == "0.0"


# -- text ---------------------------------------------------------------------------------------


def normalized(text: str) -> str:
    """Collapse alignment padding so assertions do not depend on column widths."""
    return re.sub(r"[ \u00a0]+", " ", text)


def test_text_report_content() -> None:
    output = render(TextReporter(), sample_report())
    flat = normalized(output)

    assert output.splitlines()[0] == "Contrôle de facturation NGAP — fichier : jour.csv — 12 factures lues"
    assert "Facture F-0007 du 04/03/2024 — praticien 10001234567 — ligne 8" in output
    assert "Facture F-0009 du 05/03/2024 — praticien 10001234567 — ligne 10" in output
    assert (
        "ERREUR IMT-ONCE IMT déjà facturée pour ce patient le 2023-06-12 (montant à risque : 60,00 €)" in flat
    )
    assert "ALERTE AMOUNT-ABOVE montant facturé supérieur au tarif" in flat
    assert "OPPORTUNITÉ OPP-MEG MEG non facturée" in flat
    assert "(manque à gagner : 5,00 €)" in flat
    assert "Suggestion : G+MEG" in flat
    assert "Lignes illisibles" in output
    assert "ligne 5 — colonne date : date invalide « 2024-13-01 »" in output
    assert "ligne 5 — colonne amount : montant illisible « 2O »" in output
    assert "Erreurs : 1" in flat
    assert "Alertes : 1" in flat
    assert "Opportunités : 1" in flat
    assert "Lignes en erreur de saisie : 1 (2 champs)" in flat
    assert "Montant à risque : 60,00 €" in flat
    assert "Manque à gagner : 5,00 €" in flat


def test_text_groups_findings_by_invoice() -> None:
    output = render(TextReporter(), sample_report())
    lines = output.splitlines()
    heading = lines.index("Facture F-0007 du 04/03/2024 — praticien 10001234567 — ligne 8")
    assert "IMT-ONCE" in lines[heading + 1]
    # The finding's window, reference and action follow it, then the invoice's next finding.
    assert "Fenêtre :" in lines[heading + 2] and "Référence :" in lines[heading + 3]
    assert "À faire :" in lines[heading + 4]
    assert "AMOUNT-ABOVE" in lines[heading + 5]
    assert output.count("Facture F-0007") == 1


def test_text_findings_keep_report_order() -> None:
    output = render(TextReporter(), sample_report())
    positions = [output.index(code) for code in ("IMT-ONCE", "AMOUNT-ABOVE", "OPP-MEG")]
    assert positions == sorted(positions)


def test_text_no_ansi_without_color() -> None:
    assert not ANSI.search(render(TextReporter(), sample_report(), color=False))


def test_text_color_only_adds_ansi_codes() -> None:
    plain = render(TextReporter(), sample_report(), color=False)
    colored = render(TextReporter(), sample_report(), color=True)
    assert ANSI.search(colored)
    assert ANSI.sub("", colored) == plain


def test_text_several_files_named_in_header_and_locations() -> None:
    output = render(TextReporter(), sample_report(("lundi.csv", "-")))
    assert "fichiers : lundi.csv, entrée standard" in output.splitlines()[0]
    assert "— lundi.csv, ligne 8" in output
    assert "— entrée standard, ligne 10" in output
    assert "lundi.csv, ligne 5 — colonne date" in output


def test_text_stdin_single_file() -> None:
    output = render(TextReporter(), sample_report(("-",)))
    assert output.startswith("Contrôle de facturation NGAP — fichier : entrée standard — 12 factures lues")


def test_text_empty_report() -> None:
    output = render(TextReporter(), Report(events=1, findings=(), input_errors=(), files=("jour.csv",)))
    flat = normalized(output)
    assert "1 facture lue" in output
    assert "Aucune anomalie ni opportunité détectée." in output
    assert "Lignes illisibles" not in output
    assert "Montant à risque : 0,00 €" in flat
    assert "Lignes en erreur de saisie : 0" in flat


def test_text_thousands_in_totals() -> None:
    report = Report(
        events=30,
        findings=tuple(make_finding(amount=Decimal("60"), seq=index) for index in range(25)),
        input_errors=(),
    )
    assert "Montant à risque : 1 500,00 €" in normalized(render(TextReporter(), report))


def test_text_input_error_without_line() -> None:
    report = Report(
        events=2,
        findings=(),
        input_errors=(
            InputError(line=None, field="date", message="date invalide", invoice_id="F-1"),
            InputError(line=None, field="codes", message="codes manquants"),
        ),
    )
    output = render(TextReporter(), report)
    assert "facture F-1 — colonne date : date invalide" in output
    assert "position inconnue — colonne codes : codes manquants" in output


def test_text_is_windows_1252_safe_apart_from_rule_messages() -> None:
    # Billing staff reopen saved reports in Windows-1252 tools; our own wording must survive it.
    render(TextReporter(), sample_report(("a.csv", "b.csv"))).encode("cp1252")


def test_text_report_neutralizes_terminal_escapes() -> None:
    import datetime as dt

    from billing_rules.model import Finding, Report, Severity
    from billing_rules.reporters.text_report import TextReporter

    hostile = "F1\x1b[2J\x1b]0;pwned\x07\u202e"
    finding = Finding(
        rule="CODE-UNKNOWN",
        severity=Severity.WARNING,
        message="code inconnu « X\x1b[31m »",
        invoice_id=hostile,
        practitioner_id="1",
        patient_id="P",
        date=dt.date(2026, 1, 5),
        line=2,
        file="day.csv",
        amount=None,
        suggestion=None,
        source="builtin",
        seq=0,
    )
    report = Report(events=1, findings=(finding,), input_errors=(), files=("day.csv",))
    text = "\n".join(TextReporter().lines(report))
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "F1?[2J" in text
