"""Per-act lines (SPEC §1b) on both engines: grouped alike, and every bad field reported (SPEC §1).

Two faults found by an audit: the relational engine read ``--lines`` files line by line (each
line an invoice, the second a duplicate; the wrong invoice recorded in the ledger), and an
invoice whose lines had an amount or code error lost the errors of its other fields (a bad date
on the first line, hidden by a bad amount on the second). Input errors are compared whole,
(line, field, message), on the row engine and the relational one: their reports must be equal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from billing_rules.cli import main

BOOL = "(attendu : 1/0, oui/non, true/false)"
TOO_WIDE = "9 champs au lieu des 8 de l'en-tête (séparateur dans une valeur non entourée de guillemets ?)"
DAMAGED = "caractères illisibles : octets invalides pour l'encodage du fichier"


def _check(path: Path, engine: str, *options: str) -> dict[str, Any]:
    arguments = ["check", str(path), "--isolated", "-q", "--engine", engine, "--format", "json", *options]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code in (0, 1), result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _errors(report: dict[str, Any]) -> list[tuple[int | None, str, str]]:
    return [(error["line"], error["field"], error["message"]) for error in report["input_errors"]]


# --- D1: --lines on the relational engine --------------------------------------------------------

CODES_LINES = (
    "invoice_id;date;practitioner_id;patient_id;birth_date;codes;amount\n"
    "F1;2026-01-05;111;P1;2023-01-01;G;30,00\n"
    "F1;2026-01-05;111;P1;2023-01-01;MEG;5,00\n"
)


def test_lines_groups_a_codes_column_on_every_engine(tmp_path: Path, engine: str) -> None:
    """One G+MEG invoice at 35 €: no duplicate, no OPP-MEG (MEG is billed)."""
    path = tmp_path / "actes.csv"
    path.write_text(CODES_LINES, encoding="utf-8")
    report = _check(path, engine, "--lines")
    assert _errors(report) == []
    assert report["findings"] == [] and report["summary"]["events"] == 1


def test_lines_records_the_grouped_invoice_in_the_ledger(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "actes.csv"
    path.write_text(CODES_LINES, encoding="utf-8")
    ledger = tmp_path / "registre.sqlite"
    report = _check(path, engine, "--lines", "--ledger", str(ledger), "--record")
    assert _errors(report) == [] and report["findings"] == []
    export = CliRunner().invoke(main, ["ledger", "export", "--ledger", str(ledger), "--format", "jsonl"])
    assert export.exit_code == 0, export.output
    stored = [json.loads(line) for line in export.stdout.splitlines() if line.strip()]
    assert [(item["invoice_id"], item["codes"], item["amount"]) for item in stored] == [
        ("F1", "G+MEG", "35.00")
    ]


# --- D2: every bad field of an invoice in error -------------------------------------------------


def test_a_bad_amount_does_not_hide_the_first_lines_bad_date(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "actes.csv"
    path.write_text(
        "N° facture;Date acte;RPPS;Patient;Date de naissance;Code acte;Montant\n"
        "F1;31/02/2026;111;P1;01/01/1980;G;30,00\n"
        "F1;31/02/2026;111;P1;01/01/1980;MEG;5,0O\n",
        encoding="utf-8",
    )
    assert _errors(_check(path, engine)) == [
        (2, "date", "date invalide « 31/02/2026 »"),
        (3, "amount", "montant invalide « 5,0O »"),
    ]


PER_INVOICE_ROWS = "F1;2026-01-05;111;P1;1980-01-01;G;abc;bof;x\nF2;2026-01-05;111;P2;1980-01-01;G;30;bof;x\n"


def test_a_line_gives_the_errors_its_row_gives_alone(tmp_path: Path, engine: str) -> None:
    """The same rows, per invoice and per act (``code``, or ``codes`` with --lines): same errors."""
    header = "invoice_id;date;practitioner_id;patient_id;birth_date;{};amount;regulated;ald\n"
    expected = [
        (2, "ald", f"valeur oui/non invalide « x » {BOOL}"),
        (2, "amount", "montant invalide « abc »"),
        (2, "regulated", f"valeur oui/non invalide « bof » {BOOL}"),
        (3, "ald", f"valeur oui/non invalide « x » {BOOL}"),
        (3, "regulated", f"valeur oui/non invalide « bof » {BOOL}"),
    ]
    for column, options in (("codes", ()), ("code", ()), ("codes", ("--lines",))):
        path = tmp_path / f"{column}{len(options)}.csv"
        path.write_text(header.format(column) + PER_INVOICE_ROWS, encoding="utf-8")
        assert _errors(_check(path, engine, *options)) == expected, (column, options)


def test_json_lines_per_act_errors_in_a_rows_order_on_their_lines(tmp_path: Path, engine: str) -> None:
    """Bad values, then the checks against the act; a value given by a later line, on that line."""
    base = {"invoice_id": "F1", "date": "2026-01-05", "practitioner_id": "111", "patient_id": "P1",
            "birth_date": "2027-01-01"}  # fmt: skip
    lines = [{**base, "code": "G", "amount": "z"}, {**base, "code": "MEG", "amount": 5, "time": "25:00"}]
    path = tmp_path / "actes.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert _errors(_check(path, engine)) == [
        (1, "amount", "montant invalide « z »"),
        (1, "birth_date", "date de naissance postérieure à la date de l'acte (05/01/2026)"),
        (2, "time", "heure invalide « 25:00 »"),
    ]


def test_json_array_disagreement_names_no_line(tmp_path: Path, engine: str) -> None:
    """A JSON array's objects have no line: the disagreement says "an earlier line", in good French."""
    base = {"invoice_id": "F1", "date": "2026-01-05", "practitioner_id": "111", "birth_date": "1950-01-01"}
    path = tmp_path / "actes.json"
    lines = [{**base, "patient_id": "P1", "code": "G"}, {**base, "patient_id": "P2", "code": "MEG"}]
    path.write_text(json.dumps(lines), encoding="utf-8")
    assert _errors(_check(path, engine)) == [
        (
            None,
            "patient_id",
            "patient_id différent de celui d'une ligne précédente pour la même facture : les lignes "
            "d'une facture ne diffèrent que par le code et le montant",
        )
    ]


def test_damaged_bytes_are_reported_once_after_the_bad_values(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "actes.csv"
    path.write_bytes(
        b"\xef\xbb\xbfinvoice_id;date;practitioner_id;patient_id;birth_date;code;amount;ald\n"
        b"F1;04/03/2024;101;P1;01/02/1950\xff;G;30,00;x\n"
        b"F1;04/03/2024;101;P1;01/02/1950\xff;MD;abc;x\n"
    )
    assert _errors(_check(path, engine)) == [
        (2, "ald", f"valeur oui/non invalide « x » {BOOL}"),
        (2, "birth_date", DAMAGED),
        (3, "amount", "montant invalide « abc »"),
        (3, "birth_date", DAMAGED),
    ]


def test_after_a_broken_first_line_the_next_one_gives_the_invoice(tmp_path: Path, engine: str) -> None:
    """Its values are read and compared as a first line's: no disagreement with the broken one.

    No value is said to be missing (the patient may be on the broken line); bad ones are reported.
    """
    path = tmp_path / "actes.csv"
    path.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;code;amount;ald\n"
        "F1;04/03/2024;101;P1;01/02/1950;G;30,00;x;y\n"
        "F1;31/02/2024;101;;01/02/1950;MD;abc;oui\n"
        "F1;31/02/2024;101;;01/02/1950;MD;1;\n",
        encoding="utf-8",
    )
    assert _errors(_check(path, engine)) == [
        (2, "_row", TOO_WIDE),
        (3, "date", "date invalide « 31/02/2024 »"),
        (3, "amount", "montant invalide « abc »"),
        (
            4,
            "ald",
            "ald différent de celui de la ligne 3 pour la même facture : les lignes d'une facture ne "
            "diffèrent que par le code et le montant",
        ),
    ]


# --- explain reads the file as check does ---------------------------------------------------------

VL_LINES = (
    "invoice_id;date;practitioner_id;patient_id;birth_date;codes;amount;ald;mt_status;place\n"
    "V1;2026-01-05;111;P1;1940-01-01;MD;10,00;1;self;domicile\n"
    "V1;2026-01-05;111;P1;1940-01-01;VL;60,00;1;self;domicile\n"
    "V2;2026-02-09;111;P1;1940-01-01;VL;60,00;1;self;domicile\n"
    "V2;2026-02-09;111;P1;1940-01-01;MD;10,00;1;self;domicile\n"
)


def test_explain_groups_lines_as_check_does(tmp_path: Path) -> None:
    """The window of V2's VL-QUARTER lists V1, its VL on its second line: explain groups as check does."""
    path = tmp_path / "actes.csv"
    path.write_text(VL_LINES, encoding="utf-8")
    result = CliRunner().invoke(main, ["explain", str(path), "V2", "--lines", "--isolated"])
    assert result.exit_code == 0, result.output
    assert "VL-QUARTER" in result.output
    # Read line by line, V1 would be its first line (MD alone, not counted) and a duplicate.
    assert "Factures comptées dans la fenêtre (2) :" in result.output
    assert "- facture V1 du 05/01/2026, Dr 111\n" in result.output
