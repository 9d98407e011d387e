"""``forfait --format json`` carries its input errors as ``check`` does (issue 16 point 14)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from billing_rules import cli


def _json(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli.main, ["forfait", *args, "--format", "json"])
    return result.exit_code, json.loads(result.stdout)


def test_patients_file_errors_are_in_the_json(tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    path.write_text(
        "patient_id;birth_date;ald;c2s\n"
        "A;01/02/1950;oui;non\nB;1990-13-01;non;\nC;1940-01-01;peut-être;1\n"
        "D;1960-01-01;non;non\nE;19500101;non;non\nF;1970-05-05;non;non\n",
        encoding="utf-8",
    )
    code, report = _json(str(path), "--year", "2024")
    assert code == 1
    assert [(error["line"], error["field"]) for error in report["input_errors"]] == [
        (3, "birth_date"),
        (4, "ald"),
        (6, "birth_date"),
    ]
    assert all(set(error) >= {"line", "field", "message"} for error in report["input_errors"])
    assert "19500101" not in json.dumps(report) and "1990-13-01" not in json.dumps(report)


def test_invoice_history_errors_are_in_the_json(tmp_path: Path) -> None:
    path = tmp_path / "historique.csv"
    path.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;codes;mt_status;declares_mt\n"
        "F1;2024-02-05;1;P1;1950-01-01;G;self;oui\n"
        "F2;2024-13-05;1;P2;1950-01-01;G;self;oui\n",
        encoding="utf-8",
    )
    code, report = _json("--invoices", str(path), "--year", "2024")
    assert code == 1
    assert [(error["line"], error["field"]) for error in report["input_errors"]] == [(3, "date")]
    assert report["input_errors"][0]["file"] == str(path)


def test_no_error_gives_an_empty_list(tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    path.write_text("patient_id;birth_date;ald\nA;1950-01-01;oui\n", encoding="utf-8")
    code, report = _json(str(path), "--year", "2024")
    assert code == 0 and report["input_errors"] == []


def test_patients_file_errors_name_the_file(tmp_path: Path) -> None:
    """Like check and ledger import, forfait says in which file a bad line is."""
    path = tmp_path / "patients.csv"
    path.write_text("patient_id;birth_date;ald\nA;1990-13-01;non\nB;1950-01-01;oui\n", encoding="utf-8")
    result = CliRunner().invoke(cli.main, ["forfait", str(path), "--year", "2026"])
    assert result.exit_code == 1, result.output
    assert f"{path}, ligne 2 — colonne birth_date : date de naissance invalide" in result.stderr
    code, report = _json(str(path), "--year", "2026")
    assert code == 1
    assert [(error["file"], error["line"]) for error in report["input_errors"]] == [(str(path), 2)]


def test_patients_file_without_errors_says_nothing(tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    path.write_text("patient_id;birth_date;ald\nA;1950-01-01;oui\n", encoding="utf-8")
    result = CliRunner().invoke(cli.main, ["forfait", str(path), "--year", "2026"])
    assert result.exit_code == 0, result.output
    assert "ligne" not in result.stderr and str(path) not in result.stderr


def test_invoice_history_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "historique.csv"
    path.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;codes\n"
        "F1;2024-02-05;1;P1;1950-01-01;G\nF2;2024-13-05;1;P2;1950-01-01;G\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli.main, ["forfait", "--invoices", str(path), "--year", "2024"])
    assert result.exit_code == 1, result.output
    assert f"1 erreur(s) de saisie dans l'historique ({path})" in " ".join(result.stderr.split())
