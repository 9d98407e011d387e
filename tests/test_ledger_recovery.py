"""The documented recovery path of a ledger is exact (issue 17 points 1 and 2).

A damaged ledger's message recommends ``ledger export --format jsonl`` then ``ledger import``:
that round trip gives back every value as stored, formula-looking identifiers included. The CSV
export is for spreadsheets (an apostrophe before = + - @): ``ledger import`` refuses its protected
cells instead of storing ``'-P9`` for patient ``-P9``. A stored text that is not UTF-8 (which
SQLite's integrity check does not see) is reported by ``ledger check``, stops every command with
the damaged-ledger message, and is salvaged by the export. No message quotes a patient id.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner, Result

from billing_rules import cli
from billing_rules.ledger.sqlite_damage import damaged_message

HEADER = "invoice_id;date;practitioner_id;patient_id;birth_date;codes;note\n"
FIRST_IMT = "=1+1;2024-02-05;1;-P9;1950-01-01;IMT;@SUM(1)\n"
OTHERS = "F2;2024-02-06;1;P2;1950-01-01;G;-2\nF3;2024-02-06;1;+33;1950-01-01;G;\n"
SECOND_IMT = (
    "invoice_id;date;practitioner_id;patient_id;birth_date;codes;ald\nN1;2024-03-05;1;-P9;1950-01-01;IMT;1\n"
)


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli.main, list(args))


def _ledger(tmp_path: Path) -> Path:
    day = tmp_path / "jour.csv"
    day.write_text(HEADER + FIRST_IMT + OTHERS, encoding="utf-8")
    ledger = tmp_path / "registre.db"
    result = _run("ledger", "import", str(day), "--ledger", str(ledger))
    assert result.exit_code == 0, result.output
    return ledger


def _rules(tmp_path: Path, ledger: Path) -> list[str]:
    """Rules fired by a second IMT for patient ``-P9`` (in ALD) against ``ledger``."""
    day = tmp_path / "imt.csv"
    day.write_text(SECOND_IMT, encoding="utf-8")
    result = _run("check", str(day), "--ledger", str(ledger), "--format", "json")
    assert result.exit_code in (0, 1), result.output
    return [finding["rule"] for finding in json.loads(result.stdout)["findings"]]


def test_the_recovery_message_recommends_an_exact_export() -> None:
    for message in (
        damaged_message("cabinet.db"),
        damaged_message("cabinet.db", unreadable=True),
        damaged_message("cabinet.db", undecodable=True),
    ):
        assert "ledger export --ledger cabinet.db --format jsonl --output sauvegarde.jsonl" in message
        assert "ledger import sauvegarde.jsonl" in message
        assert ".csv" not in message
    assert "'mon cabinet.db'" in damaged_message("mon cabinet.db")  # a command that can be pasted


def _export(ledger: Path, out: Path, *options: str) -> None:
    result = _run("ledger", "export", "--ledger", str(ledger), *options, "-o", str(out))
    assert result.exit_code == 0, result.output


def test_json_lines_round_trip_is_exact(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    assert "IMT-ONCE" in _rules(tmp_path, ledger)
    first = tmp_path / "sauvegarde.jsonl"
    _export(ledger, first, "--format", "jsonl")
    fresh = tmp_path / "neuf.db"
    result = _run("ledger", "import", str(first), "--ledger", str(fresh))
    assert result.exit_code == 0, result.output
    second = tmp_path / "sauvegarde-2.jsonl"
    _export(fresh, second, "--format", "jsonl")
    assert second.read_bytes() == first.read_bytes()
    stored = [json.loads(line) for line in first.read_text(encoding="utf-8").splitlines()]
    assert [row["patient_id"] for row in stored] == ["-P9", "P2", "+33"]
    assert stored[0]["invoice_id"] == "=1+1" and stored[0]["note"] == "@SUM(1)"
    assert "IMT-ONCE" in _rules(tmp_path, fresh)


def test_import_refuses_the_csv_exports_protected_cells(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    export = tmp_path / "tableur.csv"
    assert _run("ledger", "export", "--ledger", str(ledger), "-o", str(export)).exit_code == 0
    assert "'-P9" in export.read_text(encoding="utf-8")
    fresh = tmp_path / "neuf.db"
    result = _run("ledger", "import", str(export), "--ledger", str(fresh))
    assert result.exit_code == 1, result.output
    assert "champ patient_id" in result.stderr and "champ invoice_id" in result.stderr
    assert "champ note" in result.stderr  # an extra column too (``-2`` became ``'-2``)
    assert "apostrophe de protection" in result.stderr and "--format jsonl" in result.stderr
    assert "P9" not in result.stderr and "P2" not in result.stderr  # never a patient id
    # Nothing stored under an altered value: every row had a protected cell (F2 its note ``'-2``,
    # F3 its patient ``'+33``), so none was imported.
    with contextlib.closing(sqlite3.connect(fresh)) as db:
        assert db.execute("SELECT count(*) FROM invoices").fetchone() == (0,)


def test_import_keeps_rows_without_protected_cells(tmp_path: Path) -> None:
    export = tmp_path / "tableur.csv"
    export.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;codes\n"
        "F1;2024-02-05;1;'-P9;1950-01-01;IMT\n"
        "F2;2024-02-06;1;P'2;1950-01-01;G\n"
        "F3;2024-02-06;1;'P3;1950-01-01;G\n",
        encoding="utf-8",
    )
    fresh = tmp_path / "neuf.db"
    result = _run("ledger", "import", str(export), "--ledger", str(fresh))
    assert result.exit_code == 1
    assert "ligne 2, champ patient_id" in result.stderr and "2 factures importées" in result.stderr
    with contextlib.closing(sqlite3.connect(fresh)) as db:
        patients = sorted(row[0] for row in db.execute("SELECT patient_id FROM invoices"))
    assert patients == ["'P3", "P'2"]  # an apostrophe before anything else is no protection


def test_raw_csv_round_trip_keeps_imt_once(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    export = tmp_path / "brut.csv"
    assert _run("ledger", "export", "--ledger", str(ledger), "--raw", "-o", str(export)).exit_code == 0
    fresh = tmp_path / "neuf.db"
    assert _run("ledger", "import", str(export), "--ledger", str(fresh)).exit_code == 0
    assert "IMT-ONCE" in _rules(tmp_path, fresh)


def test_export_help_does_not_promise_an_exact_csv() -> None:
    text = " ".join(_run("ledger", "export", "--help").output.split())
    assert "ne se relit pas à l'identique" in text
    assert "copie exacte" in text


def _undecodable(tmp_path: Path) -> Path:
    ledger = _ledger(tmp_path)
    with contextlib.closing(sqlite3.connect(ledger)) as db:
        db.execute("UPDATE invoices SET patient_id = CAST(X'50FF34' AS TEXT) WHERE invoice_id = 'F2'")
        db.commit()
    return ledger


def test_ledger_check_reports_texts_that_are_not_utf8(tmp_path: Path) -> None:
    ledger = _undecodable(tmp_path)
    result = _run("ledger", "check", "--ledger", str(ledger))
    assert result.exit_code == 1, result.output
    assert "intact" not in result.stderr
    assert "pas de l'UTF-8 valide" in result.stderr and "invoices.patient_id (1 ligne)" in result.stderr
    assert "--format jsonl" in result.stderr
    assert "P\ufffd4" not in result.stderr and "P4" not in result.stderr


def test_commands_reading_an_undecodable_text_give_the_damaged_message(tmp_path: Path) -> None:
    ledger = _undecodable(tmp_path)
    period = ("--from", "2024-01-01", "--to", "2024-12-31", "--as-of", "2024-12-31")
    for args in (
        ("forfait", "--ledger", str(ledger)),
        ("simulate", "--ledger", str(ledger), *period, "--engine", "row"),
    ):
        result = _run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "OperationalError" not in result.stderr, args
        assert "endommagé" in result.stderr and "--format jsonl" in result.stderr, (args, result.stderr)
        assert "\ufffd" not in result.stderr and "P4" not in result.stderr


def test_export_salvages_undecodable_texts_and_they_import(tmp_path: Path) -> None:
    ledger = _undecodable(tmp_path)
    out = tmp_path / "sauvegarde.jsonl"
    result = _run("ledger", "export", "--ledger", str(ledger), "--format", "jsonl", "-o", str(out))
    assert result.exit_code == 1, result.output  # incomplete, not a clean 0
    assert "1 d'entre elles" in result.stderr and "\\xNN" in result.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(row["patient_id"] for row in rows) == ["+33", "-P9", "P\\xff4"]
    fresh = tmp_path / "neuf.db"
    result = _run("ledger", "import", str(out), "--ledger", str(fresh))
    assert result.exit_code == 0, result.output
    assert _run("ledger", "check", "--ledger", str(fresh)).exit_code == 0
    assert "IMT-ONCE" in _rules(tmp_path, fresh)
