"""``forfait``: --what-if-* bounded (click's French error, not an internal error); --input-format's
help says what the patient list and --invoices accept."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules import cli

PATIENTS = Path(__file__).resolve().parents[1] / "examples" / "patients.csv"


@pytest.mark.parametrize("option", ["--what-if-ald", "--what-if-80"])
def test_what_if_has_an_upper_bound(option: str) -> None:
    args = ["forfait", str(PATIENTS), option, "10000000000000000000000000", "--no-plugins"]
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 2, result.output
    assert "erreur interne" not in result.output
    assert f"Valeur invalide pour '{option}'" in result.stderr
    assert "0<=x<=1000000" in result.stderr


def test_what_if_at_the_bound_works() -> None:
    args = ["forfait", str(PATIENTS), "--what-if-ald", "1000000", "--no-plugins"]
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 0, result.output


def test_input_format_help_says_what_each_input_accepts() -> None:
    result = CliRunner().invoke(cli.main, ["forfait", "--help"], terminal_width=200)
    assert result.exit_code == 0
    help_text = " ".join(result.stdout.split())
    assert "csv, json ou jsonl pour la liste PATIENTS" in help_text
    assert "parquet ou le format d'une extension pour --invoices" in help_text
