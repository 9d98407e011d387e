"""``columns`` on a Parquet file reads its schema's column names, as ``check`` reads the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules import cli

pl = pytest.importorskip("polars")

WEEK = Path(__file__).resolve().parents[1] / "examples" / "week-2026-01.csv"


@pytest.fixture
def week_parquet(tmp_path: Path) -> Path:
    path = tmp_path / "semaine.parquet"
    pl.read_csv(WEEK, separator=";", infer_schema=False).write_parquet(path)
    return path


def test_columns_of_a_parquet_file(week_parquet: Path) -> None:
    checked = CliRunner().invoke(cli.main, ["check", str(week_parquet), "--no-plugins"])
    assert checked.exit_code == 1, checked.output
    for args in ([str(week_parquet)], ["--input-format", "parquet", str(week_parquet)]):
        result = CliRunner().invoke(cli.main, ["columns", *args])
        assert result.exit_code == 0, result.output
        assert "Champs obligatoires absents" not in result.output
        assert "invoice_id" in result.stdout and "discharge_date" in result.stdout


def test_columns_of_a_broken_parquet_file(tmp_path: Path) -> None:
    broken = tmp_path / "abime.parquet"
    broken.write_bytes(b"PAR1 pas du parquet")
    result = CliRunner().invoke(cli.main, ["columns", str(broken)])
    assert result.exit_code == 2, result.output
    assert "pas un fichier Parquet lisible" in result.stderr
